import pytest

from apps.catalog.services import catalog_load
from tests.accounts.factories import UserFactory


@pytest.fixture
def catalog(db):
    """The real catalogue file, loaded as `make run` loads it."""
    catalog_load()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture(autouse=True)
def _no_rate_limits_used():
    """Rate limits are counted in the shared cache (Redis), which outlives a test: each test starts
    with none used, as it would with a fresh process."""
    from django.core.cache import cache

    if hasattr(cache, "_cache") and hasattr(cache._cache, "get_client"):  # the Redis cache
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()
