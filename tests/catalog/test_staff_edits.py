"""Staff change the catalogue in the admin: validated, audited, shown at once, kept by catalog_load."""

import pytest

from apps.catalog import services
from apps.catalog.models import CatalogModel
from apps.catalog.selectors import catalog_model_availability
from apps.catalog.services import catalog_load
from apps.catalog.validation import CatalogInvalidError
from apps.core.models import StaffAction

CHANGE = "/admin/catalog/catalogmodel/{}/change/"


def form_data(model, **overrides):
    import json

    data = {
        "label": model.label, "description": model.description, "routes": json.dumps(model.routes),
        "tiers": json.dumps(model.tiers), "sort_order": model.sort_order, "max_images": model.max_images,
        "typical_seconds": model.typical_seconds, "deadline_seconds": model.deadline_seconds,
        "disabled_reason": model.disabled_reason, "coming_soon_note": model.coming_soon_note,
    }
    if model.is_enabled:
        data["is_enabled"] = "on"
    if model.coming_soon:
        data["coming_soon"] = "on"
    data.update(overrides)
    return data


def test_staff_prices_and_routes_survive_a_reload_and_are_audited(catalog, admin_user):
    sdxl = CatalogModel.objects.get(slug="sdxl")
    tiers = [{"key": "standard", "label": "Standard", "area": 1048576, "price": 4}]
    routes = [{**sdxl.routes[1]}, {**sdxl.routes[0], "enabled": False}, sdxl.routes[2]]
    services.catalog_model_update(model_id=sdxl.pk, changes={"tiers": tiers, "routes": routes, "label": "SDXL"},
                                  actor=admin_user)
    assert catalog_load() == (0, 0)  # nothing of staff's is overwritten
    sdxl.refresh_from_db()
    assert (sdxl.label, sdxl.tiers, sdxl.routes) == ("SDXL", tiers, routes)
    assert sdxl.staff_overrides == ["label", "routes", "tiers"]
    assert [route.provider for route in sdxl.route_list] == ["replicate", "fal"]  # comfyui switched off
    action = StaffAction.objects.get()
    assert (action.action, action.actor_id, action.target_label) == ("catalogue.update", admin_user.pk, "SDXL")
    assert action.changes["label"] == ["Stable Diffusion XL", "SDXL"]
    assert action.changes["tiers"][0][0]["price"] == 2 and action.changes["tiers"][1][0]["price"] == 4

    services.catalog_model_overrides_clear(model_id=sdxl.pk, actor=admin_user)
    assert catalog_load() == (0, 1)
    sdxl.refresh_from_db()
    assert (sdxl.label, sdxl.tiers[0]["price"], sdxl.staff_overrides) == ("Stable Diffusion XL", 2, [])


@pytest.mark.parametrize("changes, message", [
    ({"routes": []}, "Routes must be a list with at least one route."),
    ({"routes": [{"provider": "nowhere", "model": "x"}]}, "Route 1: provider must be one of comfyui, fal, offline, "
                                                          "openai, replicate, stability."),
    ({"routes": [{"provider": "fal", "model": "m", "enabled": False}]},
     "At least one route must stay enabled (switch the model off instead)."),
    ({"routes": [{"provider": "fal", "model": "m", "cost": {"unit": "hour", "usd": 1}}]},
     "Route 1: cost unit must be one of image, megapixel, second."),
    ({"routes": [{"provider": "fal", "model": "m", "cost": {"unit": "image", "usd": "-1"}}]},
     "Route 1: cost usd must be a number of dollars, 0 or more."),
    ({"tiers": [{"key": "a", "label": "A", "area": 1, "price": 1}, {"key": "a", "label": "B", "area": 1, "price": 2}]},
     "Tier 2: the key \"a\" is used twice."),
    ({"tiers": [{"key": "a", "label": "A", "area": 1, "price": 1.5}]}, "Tier 1: price must be a whole number, 0 or more."),
    ({"slug": "other"}, "These fields cannot be changed here: slug."),
])
def test_bad_changes_are_refused_with_a_reason(catalog, admin_user, changes, message):
    model = CatalogModel.objects.get(slug="flux-dev")
    with pytest.raises(CatalogInvalidError) as raised:
        services.catalog_model_update(model_id=model.pk, changes=changes, actor=admin_user)
    assert raised.value.message == message
    assert StaffAction.objects.count() == 0


def test_coming_soon_is_shown_on_the_generate_page_at_once(catalog, client, user, admin_client):
    model = CatalogModel.objects.get(slug="offline-studio")
    response = admin_client.post(CHANGE.format(model.pk), form_data(model, coming_soon="on",
                                                                    coming_soon_note="Back next week"))
    assert response.status_code == 302
    model.refresh_from_db()
    assert catalog_model_availability(model).coming_soon is True
    client.force_login(user)
    page = client.get("/").content.decode()
    assert "Offline Studio — coming soon: Back next week" in page


def test_the_admin_form_explains_bad_json_and_bad_tiers(catalog, admin_client):
    model = CatalogModel.objects.get(slug="flux-dev")
    response = admin_client.post(CHANGE.format(model.pk), form_data(model, tiers="[{not json"))
    assert response.status_code == 200
    assert "Enter a valid JSON." in response.content.decode()
    response = admin_client.post(CHANGE.format(model.pk), form_data(model, tiers='[{"key": "s"}]'))
    assert response.status_code == 200
    assert "Tier 1: label must be the name people see." in response.content.decode()
    model.refresh_from_db()
    assert model.tiers[0]["price"] == 3 and model.staff_overrides == []
