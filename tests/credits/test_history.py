"""The credits page as a person reads it: one row per job with what it finally cost, plurals that
agree, and every dead end pointing somewhere useful."""

import re

import pytest
from django.test import Client

from apps.credits.models import CreditAccount
from apps.generations import services
from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")
HTMX = {"HX-Request": "true"}


def history(page: str) -> list[str]:
    """Each history row's cells after the date, as plain text."""
    body = page[page.index('id="history-heading"'):]
    rows = re.findall(r"<tr class=\"ledger-[^\"]+\">(.*?)</tr>", body, re.DOTALL)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)[1:] for row in rows]
    return [" | ".join(" ".join(re.sub(r"<[^>]+>", "", c).split()) for c in row) for row in cells]


def test_each_generation_is_one_row_with_its_final_cost(browser, user, settings):
    charged = GenerationFactory(owner=user, prompt="a red fox asleep in deep snow at dawn", num_images=2)
    services.generation_run(generation_id=charged.id)
    settings.OFFLINE_ENGINE_FAILURE_RATE = 1.0
    failed = GenerationFactory(owner=user, prompt="a storm over the harbour")
    services.generation_run(generation_id=failed.id)
    GenerationFactory(owner=user, prompt="a lighthouse")

    page = browser.get("/credits/").content.decode()
    assert history(page) == [
        "Generation — Held for a generation | -1 | a lighthouse",
        "Generation — not charged: it did not complete | 0 | a storm over the harbour",
        "Generation — charged 2 credits | -2 | a red fox asleep in deep snow at dawn",
        "Grant — Welcome credits | +100 | ",
    ]
    assert "Reserved" not in page and "Charged 2 credits" not in page
    assert '<strong id="credits-balance">97</strong> credits' in page


def test_one_credit_is_singular(browser, user):
    generation = GenerationFactory(owner=user)
    services.generation_run(generation_id=generation.id)
    CreditAccount.objects.filter(user=user).update(balance=1)
    page = browser.get("/credits/").content.decode()
    assert "Generation — charged 1 credit |" in " ".join(history(page)) + " "
    assert '<strong id="credits-balance">1</strong> credit</p>' in page
    assert '<span class="balance-value">1</span> credit</span>' in page


def test_staff_are_told_where_purchases_are_set_up(browser):
    assert "Admin → Credit packages" not in browser.get("/credits/").content.decode()
    member = UserFactory()
    member.is_staff = True
    member.save(update_fields=["is_staff"])
    staff = Client()
    staff.force_login(member)
    page = staff.get("/credits/").content.decode()
    assert "Purchases are not set up on this server." in page
    assert '<a href="/admin/credits/creditpackage/">Admin → Credit packages</a>' in page
    assert "<code>STRIPE_SECRET_KEY</code>" in page


def test_not_enough_credits_links_to_the_credits_page(browser, user):
    CreditAccount.objects.filter(user=user).update(balance=1)
    form = {"model": "offline-sketch", "prompt": "a lighthouse", "tier": "draft", "num_images": "2"}
    page = browser.post("/generations/new/", form, headers=HTMX).content.decode()
    assert ('This needs 2 credits and your balance is 1. <a href="/credits/">Get credits</a></p>') in page
    page = browser.post("/batches/", {"model": "offline-sketch", "prompts": "one\ntwo"}).content.decode()
    assert '<a href="/credits/">Get credits</a>' in page


def test_a_workflow_step_stopped_for_credits_links_to_the_credits_page(db):
    from django.template.loader import render_to_string

    from apps.workflows.models import NodeRun, WorkflowRun

    node = NodeRun(node_id="draw", status="failed", error_code="insufficient_credits",
                   error_message="This needs 3 credits and your balance is 1.")
    html = render_to_string("workflows/_node.html", {"node": node, "run": WorkflowRun(), "label": "Draw"})
    assert 'This needs 3 credits and your balance is 1. <a href="/credits/">Get credits</a></p>' in html
