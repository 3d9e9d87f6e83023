"""What the bench adds to the stack (devtools/stack.py): its catalogue entry, and users with API
keys and browser sessions. `python -m devtools.bench.fixtures fixtures --users N …` runs inside the
stack's environment (BenchStack.fixtures calls it) and prints the users as JSON."""

import json
import sys
from pathlib import Path

from devtools.stack import PYTHON, ROOT, Stack

# A catalogue entry for the bench only: the offline engine at 256² (the public catalogue starts at 512²).
BENCH_MODEL_SLUG = "bench-sketch-256"
# The gateway rows' model: GPT Image's entry routed to the bench's fake OpenAI upstream at 256².
GATEWAY_MODEL_SLUG = "bench-gateway-256"
# The fake OpenAI upstream (devtools/bench/fake_openai.py) and LiteLLM's proxy, above the web ports.
FAKE_OPENAI_PORT_OFFSET, LITELLM_PORT_OFFSET = 60, 61
SECRET_KEY = "bench-only-secret-key-that-is-long-enough-for-django-0123456789abcdef"
# The offline engine as a zero-cost provider, per-user limits off and balances large: load tests
# are not abuse.
BENCH_ENV = {
    "DEBUG": "0",
    "LOG_LEVEL": "WARNING",
    "CHANNELS_PREFIX": "bench",
    "OFFLINE_ENGINE_STEP_DELAY_MS": "0",
    "OFFLINE_ENGINE_STEPS": "1",
    "OFFLINE_ENGINE_FAILURE_RATE": "0",
    "RATE_LIMIT_GENERATIONS_PER_HOUR": "0",
    "RATE_LIMIT_CONCURRENT_JOBS": "0",
    "USER_DAILY_SPEND_CAP": "0",
    "GLOBAL_DAILY_BUDGET": "0",
    "SIGNUP_GRANT_CREDITS": "100000000",
    "DAILY_FREE_CREDITS": "0",
    "METRICS_TOKEN": "bench-metrics-token",
}


class BenchStack(Stack):
    """The stack `make bench` measures: a fresh migrated database with the bench's catalogue entry,
    web processes on fixed ports, workers on every queue, their memory sampled."""

    def __init__(self, *, database_url: str, redis_url: str, port_base: int, web_processes: int = 1,
                 worker_processes: int = 1, worker_concurrency: int = 4, log_dir: Path, extra_env=None, log=print):
        import tempfile

        super().__init__(
            workdir=Path(tempfile.mkdtemp(prefix="darkroom-bench-")), name="bench", database_url=database_url,
            redis_url=redis_url, web_processes=web_processes,
            web_ports=[port_base + i for i in range(web_processes)], proxy_headers=True,
            workers=worker_processes, worker_pool="prefork", worker_concurrency=worker_concurrency,
            worker_loglevel="WARNING", secret_key=SECRET_KEY, env={**BENCH_ENV, **(extra_env or {})},
            sample_rss=True,
        )
        # Darkroom's OpenAI adapter talks to the fake upstream the gateway rows start.
        self.fake_openai_port = port_base + FAKE_OPENAI_PORT_OFFSET
        self.litellm_port = port_base + LITELLM_PORT_OFFSET
        self.extra_env.update({
            "OPENAI_BASE_URL": f"http://127.0.0.1:{self.fake_openai_port}/v1", "OPENAI_API_KEY": "sk-bench",
            "PROVIDER_FETCH_ALLOW_PRIVATE": "true",
        })
        self.log_dir, self.log = log_dir, log
        self.python, self.root = PYTHON, ROOT

    def start(self) -> "BenchStack":
        if self.started:
            return self
        self.log("stack: migrating a fresh database …")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("catalog_load")
        self.django(BENCH_MODEL_CODE)
        super().start()
        self.log(f"stack: {self.web_processes} web ({', '.join(self.base_urls)}), "
                 f"{self.worker_processes} worker × {self.worker_concurrency} ({self.workdir})")
        return self

    def stop(self) -> None:
        import shutil

        super().stop()
        # Keep the processes' logs with the run's results.
        if self.workdir.exists():
            self.log_dir.mkdir(parents=True, exist_ok=True)
            for path in self.workdir.glob("*.log"):
                shutil.copy(path, self.log_dir / path.name)
            shutil.rmtree(self.workdir, ignore_errors=True)

    def fixtures(self, *, users: int, prefix: str, sessions: bool = False, api_keys: bool = True) -> list[dict]:
        """Bench users with API keys and/or browser session cookies."""
        import subprocess

        out = subprocess.run(
            [PYTHON, "-m", "devtools.bench.fixtures", "fixtures", "--users", str(users), "--prefix", prefix,
             *(["--sessions"] if sessions else []), *([] if api_keys else ["--no-api-keys"])],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=900,
        )
        if out.returncode:
            raise RuntimeError(f"fixtures failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout)


BENCH_MODEL_CODE = f"""
from apps.catalog.models import CatalogModel
source = CatalogModel.objects.get(slug="offline-sketch")
source.pk = None
source.slug = "{BENCH_MODEL_SLUG}"
source.label = "Bench Sketch 256"
source.tiers = [{{"key": "tiny", "label": "Tiny", "area": 65536, "price": 1}}]
if hasattr(source, "sort_order"):
    source.sort_order = 999
CatalogModel.objects.filter(slug=source.slug).delete()
source.save()
gateway = CatalogModel.objects.get(slug="gpt-image-1")
gateway.pk = None
gateway.slug = "{GATEWAY_MODEL_SLUG}"
gateway.label = "Bench Gateway 256"
gateway.tiers = [{{"key": "tiny", "label": "Tiny", "area": 65536, "price": 1}}]
gateway.routes = [{{"provider": "openai", "model": "dall-e-2"}}]
CatalogModel.objects.filter(slug=gateway.slug).delete()
gateway.save()
result = source.slug
"""


# ---------------------------------------------------------------- fixtures (run inside the stack's env)


def _fixtures(users: int, prefix: str, sessions: bool, api_keys: bool) -> list[dict]:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.services import api_key_create, user_create

    if sessions and not api_keys:
        return _session_users(users, prefix)
    out = []
    for index in range(users):
        user = user_create(email=f"{prefix}-{index}@bench.invalid")
        item = {"user_id": user.pk}
        if api_keys:
            item["api_key"] = api_key_create(user=user, name="bench").secret
        if sessions:
            store = SessionStore()
            store[SESSION_KEY] = str(user.pk)
            store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
            store[HASH_SESSION_KEY] = user.get_session_auth_hash()
            store.create()
            item["session"] = store.session_key
        out.append(item)
    return out


def _session_users(users: int, prefix: str) -> list[dict]:
    """Many signed-in browsers at once (websocket clients need no credits): bulk inserts."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    User = get_user_model()
    created = []
    for index in range(users):
        user = User(email=f"{prefix}-{index}@bench.invalid")
        if any(field.name == "username" for field in User._meta.concrete_fields):
            user.username = f"{prefix}-{index}"
        user.set_unusable_password()
        created.append(user)
    created = User.objects.bulk_create(created, batch_size=500)
    store, expires = SessionStore(), timezone.now() + timezone.timedelta(days=1)
    rows, out = [], []
    for user in created:
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                HASH_SESSION_KEY: user.get_session_auth_hash()}
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        out.append({"user_id": user.pk, "session": key})
    Session.objects.bulk_create(rows, batch_size=500)
    return out


if __name__ == "__main__":
    import argparse

    sys.path.insert(0, str(ROOT))  # noqa: E402
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["fixtures"])
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--sessions", action="store_true")
    parser.add_argument("--no-api-keys", action="store_true")
    args = parser.parse_args()
    json.dump(_fixtures(args.users, args.prefix, args.sessions, not args.no_api_keys), sys.stdout)
