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


def stack_settle(stack: Stack, *, quiet: float = 0.5, limit: float = 20.0) -> None:
    """Wait until the stack has nothing queued and no transaction open on the test database, so the
    tables can be truncated: work that follows a test's end (reviews, samples, costs) would otherwise
    hold locks the truncation waits on, and the two deadlock."""
    import time

    import redis
    from django.db import connection

    queues = redis.Redis.from_url(stack.redis_url)
    busy_sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')")
    calm_since, deadline = None, time.monotonic() + limit
    while time.monotonic() < deadline:
        queued = sum(queues.llen(key) for key in queues.scan_iter(match="*") if queues.type(key) == b"list")
        with connection.cursor() as cursor:
            cursor.execute(busy_sql)
            busy = cursor.fetchone()[0]
        if queued or busy:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return
        time.sleep(0.1)


@pytest.fixture
def live(live_stack, transactional_db):
    """A running stack with the catalogue loaded and committed (tables are truncated after each test,
    once the stack has settled)."""
    from apps.catalog.services import catalog_load

    live_stack.check_alive()
    catalog_load()
    yield live_stack
    stack_settle(live_stack)


@pytest.fixture
def failing(failing_stack, transactional_db):
    from apps.catalog.services import catalog_load

    failing_stack.check_alive()
    catalog_load()
    yield failing_stack
    stack_settle(failing_stack)


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
