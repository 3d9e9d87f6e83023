"""Provider dollars: each billed call's cost from its route, the generation's total, the margin
page, and the once-a-day alert on provider dollars."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from apps.catalog import services as catalog_services
from apps.catalog.models import CatalogModel
from apps.credits import selectors, services
from apps.credits.models import SpendAlert
from apps.generations import services as generation_services
from apps.generations.models import Generation, Status
from apps.providers.costs import request_cost_usd
from apps.providers.models import ProviderCall
from apps.providers.types import GenerationRequest, Route
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.usefixtures("catalog")


def request(**fields) -> GenerationRequest:
    return GenerationRequest(**{"job_id": "j", "provider_model": "m", "prompt": "p", "width": 1024, "height": 768,
                                "num_images": 2, **fields})


@pytest.mark.parametrize("cost, extra, expected", [
    ({"unit": "image", "usd": 0.04}, {}, Decimal("0.080000")),
    ({"unit": "megapixel", "usd": 0.025}, {}, Decimal("0.039322")),  # 0.786432 MP × 2 × $0.025
    ({"unit": "second", "usd": 0.05}, {"duration_seconds": 10, "num_images": 1}, Decimal("0.500000")),
    ({"unit": "second", "usd": 0.05}, {"num_images": 1}, Decimal("0.250000")),  # 5 s unless asked
])
def test_a_calls_cost_follows_the_routes_unit(cost, extra, expected):
    assert request_cost_usd(Route("fal", "m", {"cost": cost}), request(**extra)) == expected


def test_a_route_without_a_cost_costs_nothing():
    assert request_cost_usd(Route("offline", "m", {}), request()) is None


def priced_sketch(usd: str, actor=None) -> None:
    """The offline route with a provider cost, as staff would set one in the admin."""
    model = CatalogModel.objects.get(slug="offline-sketch")
    routes = [{**model.routes[0], "cost": {"unit": "image", "usd": float(usd)}}]
    catalog_services.catalog_model_update(model_id=model.pk, changes={"routes": routes}, actor=actor)


def generate(user, *, num_images=1, capture) -> Generation:
    with capture(execute=True):
        generation = generation_services.generation_create(
            user=user, model_slug="offline-sketch", prompt="a quiet bay", num_images=num_images)
    with capture(execute=True):
        generation_services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    return generation


def test_each_billed_call_and_the_generation_record_their_dollars(user, django_capture_on_commit_callbacks):
    priced_sketch("0.0125")
    generation = generate(user, num_images=2, capture=django_capture_on_commit_callbacks)
    assert generation.status == Status.SUCCEEDED
    calls = list(ProviderCall.objects.filter(generation_id=generation.id).values_list("operation", "cost_usd"))
    assert calls == [("run", Decimal("0.025000"))]
    assert generation.provider_cost_usd == Decimal("0.025000")


def test_margin_per_model_provider_and_spender(user, settings, django_capture_on_commit_callbacks):
    settings.CREDIT_VALUE_USD = 0.01
    priced_sketch("0.03")
    other = UserFactory()
    generate(user, num_images=2, capture=django_capture_on_commit_callbacks)  # 2 credits, $0.06
    generate(other, capture=django_capture_on_commit_callbacks)  # 1 credit, $0.03
    since = timezone.now() - timedelta(hours=1)
    [sketch] = selectors.costs_by_model(since=since)
    assert sketch == {
        "slug": "offline-sketch", "label": "Offline Sketch", "generations": 2, "credits": 3,
        "revenue_usd": Decimal("0.0300"), "provider_usd": Decimal("0.0900"), "margin_usd": Decimal("-0.0600"),
        "margin_percent": Decimal("-200.0"),
    }
    assert selectors.costs_by_provider(since=since) == [{"provider": "offline", "calls": 2, "usd": Decimal("0.0900")}]
    assert [(row["email"], row["provider_usd"]) for row in selectors.costs_top_spenders(since=since)] == [
        (user.email, Decimal("0.0600")), (other.email, Decimal("0.0300"))]
    assert selectors.costs_totals(since=since)["margin_usd"] == Decimal("-0.0600")


def test_the_costs_page_shows_the_margin(user, admin_client, django_capture_on_commit_callbacks):
    priced_sketch("0.03")
    generate(user, capture=django_capture_on_commit_callbacks)
    page = admin_client.get("/admin/credits/costreport/").content.decode()
    assert "Margin per model" in page
    assert "Offline Sketch" in page and "$0.0300" in page and "$-0.0200 (-200.0 %)" in page
    assert admin_client.get("/admin/credits/costreport/?days=nonsense").status_code == 200


def test_staff_are_alerted_once_a_day_on_provider_dollars(user, settings, caplog, django_capture_on_commit_callbacks):
    settings.DAILY_PROVIDER_SPEND_ALERT_USD = 0.05
    settings.ADMINS = ["ops@example.com"]
    priced_sketch("0.03")
    generate(user, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.credits_spend_totals_refresh()
    assert mail.outbox == []
    generate(user, capture=django_capture_on_commit_callbacks)  # $0.06: past $0.05
    with django_capture_on_commit_callbacks(execute=True):
        services.credits_spend_totals_refresh()
        assert services.credits_provider_spend_alert_check() is False  # already sent today
    generate(user, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.credits_spend_totals_refresh()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.endswith(f"Provider spend for {timezone.localdate().isoformat()} passed $0.05")
    assert "an estimated $0.06 for calls made" in mail.outbox[0].body
    alert = SpendAlert.objects.get()
    assert (alert.day, alert.kind, alert.value, alert.threshold) == (
        timezone.localdate(), "provider_usd", Decimal("0.060000"), Decimal("0.050000"))
    assert [r.message for r in caplog.records if "provider spend" in r.message] == [
        "daily provider spend passed the alert threshold"]
