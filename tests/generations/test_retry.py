"""A failed card offers "Try again" (the same request, submitted anew and priced); an active card's
Cancel is a separate, labelled button that asks before it stops the job."""

import re

import pytest
from django.test import Client

from apps.credits.selectors import credits_balance_get
from apps.credits.services import credits_adjust
from apps.generations import services
from apps.generations.models import Generation, Status
from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def failed(user, **kwargs) -> Generation:
    generation = GenerationFactory(owner=user, **kwargs)
    services.generation_fail(generation_id=generation.id, code="engine_failure", message="It broke.")
    generation.refresh_from_db()
    assert generation.status == Status.FAILED
    return generation


def test_a_failed_card_offers_to_try_again_at_its_price(browser, user):
    generation = failed(user, tier="standard", num_images=2)
    page = browser.get(f"/generations/{generation.id}/").content.decode()
    form = re.search(r'<form[^>]*hx-post="/generations/%s/retry/"[^>]*>.*?</form>' % generation.id, page)
    assert form, page
    assert re.search(r'<button type="submit"[^>]*>([^<]*)</button>', form.group(0)).group(1) == "Try again · 4 credits"
    assert f'hx-target="#gen-{generation.id}"' in form.group(0) and 'hx-swap="beforebegin"' in form.group(0)


def test_try_again_is_a_plain_form_that_works_without_javascript(user):
    """No htmx: the form posts with its CSRF token and lands on the new generation's page, also when
    the card was first drawn before a new sign-in (a cached card would carry a stale token)."""
    generation = failed(user, tier="standard")
    for _ in range(2):  # the second sign-in gets a new CSRF secret
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        client.get("/")  # sets the CSRF cookie, as a browser's first page does
        page = client.get("/images/").content.decode()
    form = re.search(r'<form class="card-actions retry" method="post" action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
    assert form, page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(2)).group(1)
    response = client.post(form.group(1), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302, response.content[:300]
    again = Generation.objects.exclude(pk=generation.pk).get()
    assert response["Location"] == f"/generations/{again.id}/"


def test_trying_again_submits_the_same_request_as_a_new_generation(browser, user):
    generation = failed(user, prompt="a red kite", tier="standard", num_images=2, aspect_ratio="16:9", seed="7")
    before = credits_balance_get(user=user)
    response = browser.post(f"/generations/{generation.id}/retry/", headers=HTMX)
    assert response.status_code == 200
    again = Generation.objects.exclude(pk=generation.pk).get()
    assert (again.prompt, again.seed, again.catalog_model.slug, again.status) == ("a red kite", "7", "offline-sketch",
                                                                                   "queued")
    assert again.params == generation.params
    assert again.quoted_credits == 4 and credits_balance_get(user=user) == before - 4
    page = response.content.decode()
    assert page.startswith(f'<article id="gen-{again.id}"')
    assert re.search(r'id="balance"[^>]*hx-swap-oob="true"><span class="balance-value">%d<' % (before - 4), page)
    generation.refresh_from_db()
    assert generation.status == Status.FAILED  # the failed one stays as it was


def test_only_failed_generations_of_ones_own_can_be_tried_again(browser, user, other_user):
    active = GenerationFactory(owner=user)
    assert browser.post(f"/generations/{active.id}/retry/", headers=HTMX).status_code == 409
    theirs = failed(other_user)
    assert browser.post(f"/generations/{theirs.id}/retry/", headers=HTMX).status_code == 404
    assert Generation.objects.count() == 2


def test_a_retry_that_cannot_be_paid_says_so_on_the_card(browser, user):
    generation = failed(user, tier="standard", num_images=4)
    staff = UserFactory()
    staff.is_staff = True
    credits_adjust(user=user, amount=5 - credits_balance_get(user=user), reason="test", actor=staff)
    response = browser.post(f"/generations/{generation.id}/retry/", headers=HTMX)
    assert response.status_code == 200 and response["HX-Reswap"] == "outerHTML"
    page = response.content.decode()
    assert page.startswith(f'<article id="gen-{generation.id}"') and 'class="error retry-error"' in page
    assert Generation.objects.count() == 1 and credits_balance_get(user=user) == 5


def test_cancel_is_a_labelled_button_that_asks_first(browser, user):
    generation = GenerationFactory(owner=user)
    page = browser.get(f"/generations/{generation.id}/").content.decode()
    form = re.search(r'<form[^>]*action="/generations/%s/cancel/"[^>]*>' % generation.id, page)
    assert form and 'hx-confirm="Cancel this generation? Its credits come back to you."' in form.group(0)
    assert re.search(r'<button type="submit" class="cancel-button" aria-label="Cancel this generation"', page)
