import pytest

from apps.catalog.models import CatalogModel, dimensions_for, nearest_aspect_ratio
from apps.catalog.selectors import NOT_CONFIGURED, VIDEO_NOT_READY, catalog_model_availability
from apps.catalog.services import catalog_load


@pytest.mark.django_db
def test_loading_twice_creates_then_changes_nothing():
    assert catalog_load() == (60, 0)
    assert catalog_load() == (0, 0)
    assert list(CatalogModel.objects.values_list("slug", flat=True)[:18]) == [
        "offline-sketch", "offline-studio", "offline-edit", "offline-upscale", "offline-cutout", "face-swap", "flux-schnell", "flux-dev", "flux-pro", "sdxl", "imagen", "nano-banana",
        "gpt-image-1", "stable-image-core", "stable-image-ultra", "offline-motion", "kling-video", "veo-video",
    ]
    assert CatalogModel.objects.count() == 60


@pytest.mark.django_db
def test_reloading_keeps_what_staff_disabled():
    catalog_load()
    CatalogModel.objects.filter(slug="offline-studio").update(is_enabled=False, disabled_reason="Maintenance")
    CatalogModel.objects.filter(slug="offline-studio").update(label="Old label")
    assert catalog_load() == (0, 1)
    model = CatalogModel.objects.get(slug="offline-studio")
    assert (model.label, model.is_enabled, model.disabled_reason) == ("Offline Studio", False, "Maintenance")
    assert catalog_model_availability(model).reason == "Maintenance"


@pytest.mark.django_db
def test_a_model_whose_provider_is_not_configured_is_unavailable_with_a_reason(catalog):
    hosted = CatalogModel.objects.get(slug="flux-pro")
    availability = catalog_model_availability(hosted)
    assert (availability.available, availability.reason) == (False, NOT_CONFIGURED)
    assert catalog_model_availability(CatalogModel.objects.get(slug="offline-sketch")).available is True


@pytest.mark.parametrize(
    "ratio, area, expected",
    [("1:1", 262144, (512, 512)), ("16:9", 1048576, (1360, 768)), ("9:16", 1048576, (768, 1360)),
     ("4:3", 262144, (592, 448))],
)
def test_dimensions_follow_the_ratio_at_the_tier_pixel_budget(ratio, area, expected):
    assert dimensions_for(aspect_ratio=ratio, area=area) == expected


@pytest.mark.django_db
def test_video_models_are_offered_where_a_route_can_make_clips(catalog):
    text_to_video = CatalogModel.objects.get(slug="veo-video")
    assert (text_to_video.kind, text_to_video.needs_image) == ("video", False)
    # Its clip-making routes' providers are not configured here.
    assert catalog_model_availability(text_to_video).reason == NOT_CONFIGURED
    assert catalog_model_availability(text_to_video).reason != VIDEO_NOT_READY
    # Its clip-making route's provider is not configured here.
    assert catalog_model_availability(CatalogModel.objects.get(slug="kling-video")).reason == NOT_CONFIGURED
    motion = CatalogModel.objects.get(slug="offline-motion")
    assert (motion.kind, motion.capabilities, catalog_model_availability(motion).available) == (
        "video", ["image-to-video"], True,
    )


@pytest.mark.parametrize(
    "ratio, choices, expected",
    [("21:9", ["1:1", "16:9", "9:16"], "16:9"), ("2:3", ["1:1", "16:9", "9:16"], "9:16"),
     ("4:3", ["1:1", "3:2", "2:3"], "3:2"), ("1:1", ["4:5", "16:9"], "4:5")],
)
def test_a_ratio_a_route_lacks_maps_to_the_nearest_shape(ratio, choices, expected):
    assert nearest_aspect_ratio(ratio, choices) == expected
