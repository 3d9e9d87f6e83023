import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from apps.credits import services
from apps.credits.models import CreditAccount, CreditPackage, Purchase
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")
HTMX = {"HX-Request": "true"}


def test_the_credits_page_shows_balance_packages_and_history(browser, user, package):
    CreditPackage.objects.create(name="Studio", credits=2500, price_cents=2000, currency="usd", sort_order=200)
    CreditPackage.objects.create(name="Retired", credits=1, price_cents=100, is_active=False)
    generation = GenerationFactory(owner=user, prompt="a harbour at dawn")
    page = browser.get("/credits/").content.decode()

    assert '<strong id="credits-balance">99</strong> credits' in page
    assert "Purchases are not set up on this server." in page  # no Stripe key in tests by default
    assert "Starter" not in page  # no buy buttons without Stripe
    assert 'class="ledger-reserve"' in page and 'class="ledger-grant"' in page
    assert f'<a href="/generations/{generation.id}/">a harbour at dawn</a>' in page
    assert "Welcome credits" in page and "Held for a generation" in page
    assert page.index("Held for a generation") < page.index("Welcome credits")  # newest first


def test_buy_buttons_when_stripe_is_set_up(browser, package, stripe):
    CreditPackage.objects.create(name="Studio", credits=2500, price_cents=2000, currency="eur", sort_order=200)
    CreditPackage.objects.create(name="Retired", credits=1, price_cents=100, is_active=False)
    page = browser.get("/credits/").content.decode()
    buttons = re.findall(r'<form method="post" action="(/credits/buy/\d+/)".*?<button[^>]*>([^<]+)</button>', page, re.DOTALL)
    assert buttons == [(f"/credits/buy/{package.pk}/", "Buy for $5.00"),
                       (f"/credits/buy/{package.pk + 1}/", "Buy for €20.00")]
    assert "Retired" not in page


def test_buying_sends_the_browser_to_stripe_checkout_and_back_to_a_receipt(browser, user, package, stripe):
    response = browser.post(f"/credits/buy/{package.pk}/")
    assert response.status_code == 303
    purchase = Purchase.objects.get()
    assert response["Location"] == f"{stripe.server.url}/checkout/{purchase.stripe_checkout_session_id}"

    # The buyer pays on Stripe's page and is sent back; the receipt waits for the webhook.
    back = stripe.pay(response["Location"])
    assert back == f"http://testserver/credits/checkout/done/?session_id={purchase.stripe_checkout_session_id}"
    receipt = browser.get(back.removeprefix("http://testserver"))
    assert receipt.status_code == 302 and receipt["Location"] == f"/credits/purchases/{purchase.pk}/"
    pending = browser.get(receipt["Location"]).content.decode()
    assert "Waiting for Stripe to confirm your payment" in pending and 'hx-trigger="every 2s"' in pending

    stripe.deliver()
    status = browser.get(f"/credits/purchases/{purchase.pk}/status/", headers=HTMX).content.decode()
    assert "Payment received: <strong>500 credits</strong> were added to your balance." in status
    assert "hx-trigger" not in status  # polling stops
    # The header's balance and nudge are refreshed with it.
    assert '<span id="balance" class="balance" title="Your credit balance" hx-swap-oob="true">' in status
    assert '<span class="balance-value">600</span>' in status and 'id="credits-nav"' in status
    page = browser.get("/credits/").content.decode()
    assert '<strong id="credits-balance">600</strong>' in page
    assert f'<a href="/credits/purchases/{purchase.pk}/">Starter purchase</a>' in page


def test_a_canceled_checkout_says_nothing_was_charged(browser, package, stripe):
    browser.post(f"/credits/buy/{package.pk}/")
    session = stripe.fake.objects[Purchase.objects.get().stripe_checkout_session_id]
    page = browser.get(urlsplit(session["cancel_url"]).path + "?" + urlsplit(session["cancel_url"]).query)
    assert "Checkout was canceled; you were not charged." in page.content.decode()


def test_buying_without_stripe_says_so(browser, package):
    response = browser.post(f"/credits/buy/{package.pk}/", follow=True)
    assert "Buying credits is not set up on this server." in response.content.decode()
    assert Purchase.objects.count() == 0


def test_an_inactive_or_unknown_package_is_404(browser, package, stripe):
    package.is_active = False
    package.save()
    assert browser.post(f"/credits/buy/{package.pk}/").status_code == 404
    assert browser.post("/credits/buy/999999/").status_code == 404


def test_other_peoples_purchases_are_not_found(browser, other_user, package, stripe):
    theirs, _ = services.credits_checkout_start(user=other_user, package_id=package.pk, success_url="http://x/",
                                                cancel_url="http://x/")
    assert browser.get(f"/credits/purchases/{theirs.pk}/").status_code == 404
    assert browser.get(f"/credits/purchases/{theirs.pk}/status/").status_code == 404
    assert browser.get(f"/credits/checkout/done/?session_id={theirs.stripe_checkout_session_id}").status_code == 404


def test_the_history_pages_with_a_cursor(browser, user):
    for _ in range(30):
        GenerationFactory(owner=user)
    first = browser.get("/credits/").content.decode()
    assert first.count('<tr class="ledger-') == 25
    cursor = re.search(r'href="\?before=([^"]+)"', first).group(1)
    second = browser.get(f"/credits/?before={cursor}").content.decode()
    assert second.count('<tr class="ledger-') == 6  # 30 holds + the welcome grant
    assert "Welcome credits" in second and "?before=" not in second.split("Newest")[-1]


def test_a_low_balance_nudges_in_the_header(browser, user, settings):
    settings.LOW_BALANCE_CREDITS = 10
    assert "Low balance — top up" not in browser.get("/").content.decode()
    CreditAccount.objects.filter(user=user).update(balance=9)
    home = browser.get("/").content.decode()
    assert 'class="nudge"' in home and "Low balance — top up" in home
    assert "Your balance is low." in browser.get("/credits/").content.decode()


def test_the_generate_form_shows_a_limit_with_when_to_retry(browser, user, settings):
    settings.RATE_LIMIT_CONCURRENT_JOBS = 1
    GenerationFactory(owner=user)
    form = {"model": "offline-sketch", "prompt": "a lantern", "aspect_ratio": "1:1", "tier": "draft",
            "num_images": "1"}
    response = browser.post("/generations/new/", form, headers=HTMX)
    assert "You have 1 generation in progress, the most at once." in response.content.decode()


def test_pages_need_a_login():
    for path in ("/credits/", "/credits/purchases/00000000-0000-0000-0000-000000000000/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Client().post("/credits/buy/1/").status_code == 302
