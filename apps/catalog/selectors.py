from dataclasses import dataclass

from django.db.models import QuerySet

from apps.providers.registry import adapter_registry

from .models import CatalogModel

NOT_CONFIGURED = "Not available on this server yet: its provider is not configured."


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""


def catalog_model_availability(model: CatalogModel) -> Availability:
    if not model.is_enabled:
        return Availability(False, model.disabled_reason or "Temporarily unavailable.")
    if model.adapter not in adapter_registry or not adapter_registry.get(model.adapter).is_configured():
        return Availability(False, NOT_CONFIGURED)
    return Availability(True)


def catalog_model_list() -> QuerySet[CatalogModel]:
    return CatalogModel.objects.all()


def catalog_model_get(*, slug: str) -> CatalogModel | None:
    return CatalogModel.objects.filter(slug=slug).first()
