"""Credits per model are honest: a tier without a price of its own is priced from the dearest of
its routes' provider costs with the configurable margin, so no fallback costs more than quoted."""

import pytest

from apps.catalog import pricing
from apps.catalog.models import CatalogModel
from apps.catalog.services import catalog_load

ROUTES = [
    {"provider": "replicate", "model": "a", "cost": {"unit": "second", "usd": 0.02}},
    {"provider": "fal", "model": "b", "cost": {"unit": "second", "usd": 0.08}},
    {"provider": "offline", "model": "c"},
]


def test_the_dearest_route_and_the_margin_set_the_price(settings):
    settings.CREDIT_MARGIN, settings.CREDIT_VALUE_USD = 0.25, 0.01
    assert pricing.price_from_cost(ROUTES, tier={"area": 409920}) == 10  # 0.08 × 1.25 / 0.01
    settings.CREDIT_MARGIN = 0.5
    assert pricing.price_from_cost(ROUTES, tier={"area": 409920}) == 12
    settings.CREDIT_VALUE_USD = 0.05
    assert pricing.price_from_cost(ROUTES, tier={"area": 409920}) == 3  # 2.4, rounded up
    megapixel = [{"provider": "fal", "model": "m", "cost": {"unit": "megapixel", "usd": 0.03}}]
    settings.CREDIT_MARGIN, settings.CREDIT_VALUE_USD = 0.25, 0.01
    assert pricing.price_from_cost(megapixel, tier={"area": 4_000_000}) == 15  # 0.12 × 1.25 / 0.01
    assert pricing.price_from_cost(megapixel, tier={"area": 0}) == 4  # at least a megapixel
    assert pricing.price_from_cost([{"provider": "offline", "model": "c"}], tier={}) is None


def test_tiers_keep_their_own_price_and_unpriced_ones_need_a_cost(settings):
    settings.CREDIT_MARGIN, settings.CREDIT_VALUE_USD = 0.25, 0.01
    tiers = [{"key": "a", "area": 1, "price": 3}, {"key": "b", "area": 1}]
    assert [t["price"] for t in pricing.tiers_priced(ROUTES, tiers)] == [3, 10]
    with pytest.raises(ValueError, match="tier 'b' has no price and no route has a cost"):
        pricing.tiers_priced([{"provider": "offline", "model": "c"}], tiers)


@pytest.mark.django_db
def test_the_catalogue_prices_its_hosted_clips_from_cost_and_the_quote_follows(settings):
    settings.CREDIT_MARGIN, settings.CREDIT_VALUE_USD = 0.25, 0.01
    catalog_load()
    kling = CatalogModel.objects.get(slug="kling-master")
    assert kling.tiers[0]["price"] == 35  # 0.28 $/s × 1.25 / 0.01
    assert pricing.quote(catalog_model=kling, duration_seconds=10) == 350
    # Existing prices are the file's own.
    assert CatalogModel.objects.get(slug="veo-video").tiers[0]["price"] == 25
    settings.CREDIT_MARGIN = 0.5
    catalog_load()
    assert CatalogModel.objects.get(slug="kling-master").tiers[0]["price"] == 42
    # Every priced route of every model costs no more than its price covers at the margin.
    for model in CatalogModel.objects.exclude(slug__in=["veo-video", "kling-video"]):
        for tier in model.tiers:
            costs = [pricing.route_unit_cost_usd(r, tier=tier) for r in model.routes]
            dearest = max((c for c in costs if c is not None), default=0)
            assert tier["price"] * settings.CREDIT_VALUE_USD >= dearest, (model.slug, tier["key"])
