import pytest

from apps.catalog.services import catalog_load
from devtools.stack import Stack
from tests.accounts.factories import UserFactory
from tests.e2e.conftest import FAILING_REDIS_DB, LIVE_REDIS_DB, start_stack


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


# The live stacks (daphne + Celery, tests/e2e/conftest.py), defined once here so every folder's
# tests share one of each: two copies on the same Redis database would take each other's jobs.
@pytest.fixture(scope="session")
def live_stack(request, tmp_path_factory, django_db_setup) -> Stack:
    """The production shape: daphne + Celery on PostgreSQL and Redis, the offline engine succeeding."""
    return start_stack(request, tmp_path_factory, "ok", LIVE_REDIS_DB)


@pytest.fixture(scope="session")
def failing_stack(request, tmp_path_factory, django_db_setup) -> Stack:
    """The same shape, but the offline engine fails every job midway."""
    return start_stack(
        request, tmp_path_factory, "failing", FAILING_REDIS_DB, OFFLINE_ENGINE_FAILURE_RATE="1"
    )


@pytest.fixture
def live(live_stack, transactional_db) -> Stack:
    """A running stack with the catalogue loaded and committed (tables are truncated after each test)."""
    from apps.catalog.services import catalog_load

    live_stack.check_alive()
    catalog_load()
    return live_stack


@pytest.fixture
def failing(failing_stack, transactional_db) -> Stack:
    from apps.catalog.services import catalog_load

    failing_stack.check_alive()
    catalog_load()
    return failing_stack


@pytest.fixture
def signed_in_page(live_server, user):
    """Headless Chromium signed in as `user` on the in-process live server (no Celery, no websocket),
    at 1280×800; fails the test on any page error or console error."""
    from django.test import Client

    from tests.browser import chromium

    client = Client()
    client.force_login(user)
    with chromium() as browser:
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # The test server speaks no websocket: the live channel's failing handshake is expected here.
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" and not (
            "WebSocket" in message.text or message.text == "[object Event]") else None)
        yield page
        assert errors == [], errors
