import time
from dataclasses import dataclass

from django.db.models import QuerySet

from apps.providers.registry import adapter_registry

from .models import CatalogModel, PromptPreset, PromptPresetVersion

NOT_CONFIGURED = "Not available on this server yet: its provider is not configured."
VIDEO_NOT_READY = "Video clips can't be made on this server yet."


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""
    coming_soon: bool = False


def catalog_model_availability(model: CatalogModel) -> Availability:
    if model.coming_soon:
        return Availability(False, model.coming_soon_note or "Coming soon.", coming_soon=True)
    if not model.is_enabled:
        return Availability(False, model.disabled_reason or "Temporarily unavailable.")
    if model.kind == CatalogModel.Kind.VIDEO and not any(_makes_video(route) for route in model.route_list):
        return Availability(False, VIDEO_NOT_READY)
    if not any(route_is_configured(route) for route in model.route_list):
        return Availability(False, NOT_CONFIGURED)
    return Availability(True)


def _makes_video(route) -> bool:
    """Routes that deliver clips say so (`video = true` in the catalogue); the others make images."""
    return bool(route.options.get("video")) and route.provider in adapter_registry


def route_is_configured(route) -> bool:
    return route.provider in adapter_registry and adapter_registry.get(route.provider).is_configured()


def catalog_model_list() -> QuerySet[CatalogModel]:
    return CatalogModel.objects.all()


def catalog_model_get(*, slug: str) -> CatalogModel | None:
    return CatalogModel.objects.filter(slug=slug).first()


@dataclass(frozen=True)
class ModelName:
    id: int
    slug: str
    label: str


NAMES_TTL_SECONDS = 30
_names: tuple[float, list[ModelName]] = (0.0, [])


def catalog_model_names() -> list[ModelName]:
    """Id, slug and label of every model, for filters on public pages read many times a second:
    kept in this process for NAMES_TTL_SECONDS (a model added in the admin shows up within that)."""
    global _names
    expires, names = _names
    if time.monotonic() >= expires:
        names = [ModelName(*row) for row in CatalogModel.objects.values_list("id", "slug", "label")]
        _names = (time.monotonic() + NAMES_TTL_SECONDS, names)
    return names


def catalog_model_names_clear() -> None:
    global _names
    _names = (0.0, [])
def preset_list_active():
    """The presets offered as chips, each with its current version (inactive or empty ones left out)."""
    presets = PromptPreset.objects.filter(is_active=True).prefetch_related("versions")
    return [preset for preset in presets if preset.versions.all()]


def preset_current_version(*, slug: str):
    """The current version of an active preset, or None."""
    return (PromptPresetVersion.objects.select_related("preset")
            .filter(preset__slug=slug, preset__is_active=True).order_by("-number").first())
