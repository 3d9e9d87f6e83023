from apps.core.registry import Registry

from .retry import RetryPolicy
from .types import ProviderAdapter

adapter_registry: Registry[type[ProviderAdapter]] = Registry("provider adapter")

DEFAULT_RETRY = RetryPolicy()


def adapter_get(key: str) -> ProviderAdapter:
    return adapter_registry.get(key)()


def adapter_retry_policy(adapter: ProviderAdapter) -> RetryPolicy:
    return getattr(adapter, "retry_policy", DEFAULT_RETRY)
