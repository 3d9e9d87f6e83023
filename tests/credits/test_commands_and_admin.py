import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.test import Client

from apps.core.models import StaffAction
from apps.credits import services
from apps.credits.models import CreditAccount, LedgerEntry
from apps.generations.models import Generation, Status
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.usefixtures("catalog")


def reconcile(*args) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("credits_reconcile", *args, stdout=out)
    except SystemExit as exit_:
        return exit_.code, out.getvalue()
    return 0, out.getvalue()


def test_reconcile_is_clean_and_exits_zero(user, other_user):
    GenerationFactory(owner=user)
    code, out = reconcile()
    assert code == 0
    assert out.splitlines() == [
        "Accounts checked: 2; ledger entries: 3",
        "Mismatches: 0 balance, 0 settlement, 0 spend.",
    ]


def test_reconcile_reports_a_tampered_balance_and_exits_non_zero(user):
    CreditAccount.objects.filter(user=user).update(balance=F("balance") + 7)
    code, out = reconcile()
    assert code == 1
    assert f"BALANCE MISMATCH user {user.pk}: account says 107, ledger sums to 100 (difference +7)" in out
    assert out.splitlines()[-1] == "Mismatches: 1 balance, 0 settlement, 0 spend."


def test_reconcile_reports_a_failed_generation_that_was_charged(user):
    generation = GenerationFactory(owner=user)
    services.credits_capture(generation=generation)
    Generation.objects.filter(pk=generation.pk).update(status=Status.FAILED)
    code, out = reconcile()
    assert code == 1
    assert (
        f"SETTLEMENT MISMATCH generation {generation.id} (failed): reserved=True, settled by capture, expected release"
        in out
    )


def test_reconcile_json_report(user):
    code, out = reconcile("--json")
    assert code == 0 and '"balance_mismatches": []' in out


def test_the_webhook_command_prints_the_url_to_register(settings, db):
    settings.DJSTRIPE_WEBHOOK_SECRET = "whsec_c2V0dGluZ3MtZm9yLXRoZS1jb21tYW5kLXRlc3Q"
    settings.SITE_URL = "https://darkroom.example.com"
    out = StringIO()
    call_command("credits_stripe_webhook", stdout=out, stderr=StringIO())
    assert re.fullmatch(r"https://darkroom\.example\.com/stripe/webhook/[0-9a-f-]{36}/\n", out.getvalue())
    call_command("credits_stripe_webhook", stdout=StringIO())  # idempotent
    from djstripe.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.djstripe_validation_method) == (settings.DJSTRIPE_WEBHOOK_SECRET, "verify_signature")


# ---------------------------------------------------------------- admin


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_staff_add_an_adjustment_with_a_reason_once(admin_client, admin_user, user):
    form = {"user": user.pk, "amount": "40", "reason": "Refund for the outage", "nonce": "9a1c4a7e-2f4b-4f83-8c43-1d0e8a1c0b11"}
    response = admin_client.post("/admin/credits/creditadjustment/add/", form)
    assert response.status_code == 302
    admin_client.post("/admin/credits/creditadjustment/add/", form)  # a double submit
    entry = LedgerEntry.objects.get(kind="adjustment")
    assert (entry.user, entry.amount, entry.memo, entry.actor) == (user, 40, "Refund for the outage", admin_user)
    assert CreditAccount.objects.get(user=user).balance == 140
    listing = admin_client.get("/admin/credits/creditadjustment/").content.decode()
    assert "Refund for the outage" in listing


def test_an_adjustment_needs_a_reason_and_cannot_overdraw(admin_client, user):
    page = admin_client.post("/admin/credits/creditadjustment/add/", {"user": user.pk, "amount": "-101", "reason": "",
                                                                     "nonce": "9a1c4a7e-2f4b-4f83-8c43-1d0e8a1c0b12"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "This field is required." in html
    assert "The balance is 100; at most 100 credits can be removed." in html
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_staff_cannot_edit_or_delete_ledger_rows_or_adjustments(admin_client, user, admin_user):
    entry = LedgerEntry.objects.get(user=user)
    adjustment = services.credits_adjust(user=user, amount=5, reason="Gift", actor=admin_user)
    for url in (f"/admin/credits/ledgerentry/{entry.pk}/delete/", f"/admin/credits/creditadjustment/{adjustment.pk}/delete/",
                "/admin/credits/ledgerentry/add/"):
        assert admin_client.get(url).status_code == 403, url
    view = admin_client.get(f"/admin/credits/ledgerentry/{entry.pk}/change/").content.decode()
    assert "Save" not in view and 'name="amount"' not in view
    admin_client.post(f"/admin/credits/ledgerentry/{entry.pk}/change/", {"amount": "1000"})
    assert LedgerEntry.objects.get(pk=entry.pk).amount == 100


def test_staff_manage_packages_and_see_purchases(admin_client, package):
    response = admin_client.post("/admin/credits/creditpackage/add/", {
        "name": "Pro", "credits": "3000", "price_cents": "2500", "currency": "usd", "is_active": "on",
        "stripe_price_id": "", "sort_order": "100",
    })
    assert response.status_code == 302
    assert "Pro" in admin_client.get("/admin/credits/creditpackage/").content.decode()
    assert admin_client.get("/admin/credits/purchase/").status_code == 200
    assert admin_client.get("/admin/credits/dailyspend/").status_code == 200


def test_staff_refund_a_purchase_from_the_admin_and_audit_it(admin_client, user, package, stripe):
    purchase, url = services.credits_checkout_start(user=user, package_id=package.pk, success_url="http://x/",
                                                    cancel_url="http://x/")
    stripe.pay(url)
    stripe.deliver()
    response = admin_client.post("/admin/credits/purchase/", {
        "action": "refund_through_stripe", "_selected_action": [str(purchase.pk)],
    }, follow=True)
    refund_id = next(o["id"] for o in stripe.fake.objects.values() if o["object"] == "refund")
    assert f"Stripe refund {refund_id} is succeeded." in response.content.decode()
    audit = StaffAction.objects.get(action="purchase.refund_requested")
    assert (audit.target_id, audit.changes) == (str(purchase.pk), {
        "refund": [None, refund_id], "status": [None, "succeeded"], "amount_cents": [None, 500]})
    stripe.deliver()
    assert CreditAccount.objects.get(user=user).balance == 100

    page = admin_client.get(f"/admin/credits/purchase/{purchase.pk}/change/").content.decode()
    assert refund_id in page and "Refund of $5.00 purchase" in page and "Bought Starter ($5.00)" in page
    assert f"stripe:checkout:{purchase.stripe_checkout_session_id}:grant" in page
