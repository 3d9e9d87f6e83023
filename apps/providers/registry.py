from apps.core.registry import Registry

from .types import ProviderAdapter

adapter_registry: Registry[type[ProviderAdapter]] = Registry("provider adapter")


def adapter_get(key: str) -> ProviderAdapter:
    return adapter_registry.get(key)()
