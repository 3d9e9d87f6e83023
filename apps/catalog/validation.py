"""Checks on catalogue fields staff edit in the admin: a clear message for each mistake."""

from decimal import Decimal, InvalidOperation

from apps.core.exceptions import ApplicationError
from apps.providers.registry import adapter_registry

COST_UNITS = ("image", "megapixel", "second")


class CatalogInvalidError(ApplicationError):
    code = "catalog_invalid"
    default_message = "That catalogue entry is not valid."


def _fail(message: str):
    raise CatalogInvalidError(message)


def cost_clean(cost, *, where: str) -> dict:
    """A route's provider cost: {unit: image | megapixel | second, usd: a non-negative amount}."""
    if not isinstance(cost, dict) or set(cost) != {"unit", "usd"}:
        _fail(f"{where}: cost must be {{\"unit\": …, \"usd\": …}}.")
    if cost["unit"] not in COST_UNITS:
        _fail(f"{where}: cost unit must be one of {', '.join(COST_UNITS)}.")
    try:
        usd = Decimal(str(cost["usd"]))
    except InvalidOperation:
        usd = Decimal(-1)
    if isinstance(cost["usd"], bool) or not usd.is_finite() or usd < 0:
        _fail(f"{where}: cost usd must be a number of dollars, 0 or more.")
    return {"unit": cost["unit"], "usd": float(usd)}


def routes_clean(routes) -> list[dict]:
    """The chain of routes, tried in order: [{provider, model, enabled?, cost?, …options}]."""
    if not isinstance(routes, list) or not routes:
        _fail("Routes must be a list with at least one route.")
    cleaned = []
    for number, route in enumerate(routes, start=1):
        where = f"Route {number}"
        if not isinstance(route, dict):
            _fail(f"{where} must be an object like {{\"provider\": …, \"model\": …}}.")
        if route.get("provider") not in adapter_registry:
            _fail(f"{where}: provider must be one of {', '.join(sorted(adapter_registry))}.")
        if not isinstance(route.get("model"), str) or not route["model"].strip():
            _fail(f"{where}: model must be the provider's model name.")
        if "enabled" in route and not isinstance(route["enabled"], bool):
            _fail(f"{where}: enabled must be true or false.")
        if "cost" in route:
            route = {**route, "cost": cost_clean(route["cost"], where=where)}
        cleaned.append(route)
    if not any(route.get("enabled", True) for route in cleaned):
        _fail("At least one route must stay enabled (switch the model off instead).")
    return cleaned


def tiers_clean(tiers) -> list[dict]:
    """The sizes offered: [{key, label, area, price, …}], price in credits (per image or per second)."""
    if not isinstance(tiers, list) or not tiers:
        _fail("Tiers must be a list with at least one tier.")
    keys = set()
    for number, tier in enumerate(tiers, start=1):
        where = f"Tier {number}"
        if not isinstance(tier, dict):
            _fail(f"{where} must be an object like {{\"key\": …, \"label\": …, \"area\": …, \"price\": …}}.")
        if not isinstance(tier.get("key"), str) or not tier["key"].strip():
            _fail(f"{where}: key must be a short name such as \"standard\".")
        if tier["key"] in keys:
            _fail(f"{where}: the key \"{tier['key']}\" is used twice.")
        keys.add(tier["key"])
        if not isinstance(tier.get("label"), str) or not tier["label"].strip():
            _fail(f"{where}: label must be the name people see.")
        for field in ("area", "price"):
            value = tier.get(field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                _fail(f"{where}: {field} must be a whole number, 0 or more.")
    return tiers
