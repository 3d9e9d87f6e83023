"""The admin as an ops console: dj-stripe's tables out of the way, internal fields read-only, and
every staff change to money or content in the audit trail."""

from apps.core.models import StaffAction
from apps.credits import services
from apps.credits.models import CreditPackage, LedgerEntry
from apps.generations.models import Generation
from tests.generations.factories import GenerationFactory


def test_only_the_stripe_records_staff_need_are_listed(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert "Stripe records" in index
    assert admin_client.get("/admin/djstripe/customer/").status_code == 200
    assert admin_client.get("/admin/djstripe/charge/").status_code == 200
    for gone in ("coupon", "taxrate", "shippingrate", "subscriptionschedule", "applicationfee"):
        assert admin_client.get(f"/admin/djstripe/{gone}/").status_code == 404, gone
        assert f"/admin/djstripe/{gone}/" not in index


def test_a_generation_is_a_view_with_no_dropdown_of_generations(admin_client, catalog, user):
    generation = GenerationFactory(owner=user)
    GenerationFactory(owner=user)
    page = admin_client.get(f"/admin/generations/generation/{generation.pk}/change/").content.decode()
    assert "<select" not in page.split('id="content-main"')[1].split("</form>")[0].replace(
        'name="action"', "")  # no editable choice list at all
    for internal in ("outage_waits", "next_attempt_at", "result_read_failures", "provider_job_id", "route_index"):
        assert f'name="{internal}"' not in page, internal
    response = admin_client.post(f"/admin/generations/generation/{generation.pk}/change/",
                                 {"outage_waits": "9", "status": "succeeded"})
    assert response.status_code == 403
    generation.refresh_from_db()
    assert (generation.outage_waits, generation.status) == (0, "queued")
    assert Generation.objects.count() == 2


def test_credit_adjustments_are_audited_once(admin_client, admin_user, user):
    form = {"user": user.pk, "amount": "-30", "reason": "Chargeback", "nonce": "2b5e0c1a-6a39-4a0c-9d0b-3f3f1c2d4e5f"}
    admin_client.post("/admin/credits/creditadjustment/add/", form)
    admin_client.post("/admin/credits/creditadjustment/add/", form)  # a double submit
    entry = LedgerEntry.objects.get(kind="adjustment")
    [action] = StaffAction.objects.all()
    assert (action.action, action.actor_id, action.target_label, action.changes) == (
        "credits.adjust", admin_user.pk, user.email,
        {"amount": [None, -30], "reason": [None, "Chargeback"], "entry": [None, entry.pk]})


def test_package_prices_changed_in_the_admin_are_audited(admin_client, admin_user):
    package = CreditPackage.objects.create(name="Starter", credits=500, price_cents=500)
    response = admin_client.post(f"/admin/credits/creditpackage/{package.pk}/change/", {
        "name": "Starter", "credits": "600", "price_cents": "500", "currency": "usd", "is_active": "on",
        "stripe_price_id": "", "sort_order": "100",
    })
    assert response.status_code == 302
    [action] = StaffAction.objects.all()
    assert (action.action, action.actor_id, action.target_label, action.changes) == (
        "credit_package.update", admin_user.pk, "Starter — 600 credits", {"credits": [500, 600]})
    assert admin_client.get(f"/admin/credits/creditpackage/{package.pk}/delete/").status_code == 403
    page = admin_client.get("/admin/core/staffaction/").content.decode()
    assert "credit_package.update" in page


def test_a_new_package_is_audited_with_every_field(admin_user):
    package = services.credits_package_save(package=CreditPackage(name="Pro", credits=3000, price_cents=2500),
                                            actor=admin_user)
    action = StaffAction.objects.get()
    assert (action.action, action.target_id) == ("credit_package.create", str(package.pk))
    assert action.changes["price_cents"] == [None, 2500] and action.changes["credits"] == [None, 3000]


def test_staff_cancelling_a_generation_is_audited(admin_client, admin_user, catalog, user):
    generation = GenerationFactory(owner=user)
    response = admin_client.post("/admin/generations/generation/", {
        "action": "cancel_generations", "_selected_action": [str(generation.pk)]}, follow=True)
    assert "Canceled 1 generation(s)." in response.content.decode()
    generation.refresh_from_db()
    assert generation.status == "canceled"
    action = StaffAction.objects.get()
    assert (action.action, action.actor_id, action.target_id, action.target_label, action.changes) == (
        "generation.cancel", admin_user.pk, str(generation.pk), f"{generation.pk} of {user.email}",
        {"status": ["queued", "canceled"]})


def test_stripe_records_are_not_added_or_deleted_here(admin_client):
    assert admin_client.get("/admin/djstripe/charge/add/").status_code == 403
    assert admin_client.get("/admin/djstripe/customer/add/").status_code == 403
    assert "/admin/djstripe/charge/add/" not in admin_client.get("/admin/").content.decode()
