"""Live: real processes on loopback, nothing of Darkroom mocked.

1. Embedded mode with the Stripe fake: a new user buys a package and sees the credits arrive;
   replaying the webhook ten times changes nothing; a refund takes the credits back; the
   reconcile command is clean.
2. Production shape (two daphne processes, a prefork Celery worker, PostgreSQL, Redis): fifty
   concurrent API submissions for credits that cover ten, worker processes SIGKILLed mid-job,
   every generation ends, and no failed one is charged.
"""

import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.accounts.services import api_key_create
from apps.credits import services
from apps.credits.models import CreditAccount, LedgerEntry
from apps.generations import services as generation_services
from apps.generations.models import ACTIVE, Generation, Status
from devtools import standins
from tests.accounts.factories import PASSWORD, UserFactory
from tests.e2e.conftest import (
    HOST,
    PYTHON,
    ROOT,
    STARTUP_TIMEOUT,
    LiveProcess,
    clean_env,
    free_port,
    http_ok,
    wait_for,
)

pytestmark = pytest.mark.live

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# The stand-in key the Stripe fake accepts (devtools/standins.py).
FAKE_KEY = standins.STRIPE_SECRET_KEY
KILL_REDIS_DB = 13


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no csrfmiddlewaretoken on the page"
    return match.group(1)


def balance_on(client: httpx.Client) -> int:
    return int(re.search(r'<strong id="credits-balance">(\d+)</strong>', client.get("/credits/").text).group(1))


def test_embedded_mode_buy_replay_refund_and_reconcile(tmp_path):
    fake_port, port = free_port(), free_port()
    base, fake_url = f"http://{HOST}:{port}", f"http://{HOST}:{fake_port}"
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.base", DARKROOM_VAR_DIR=str(tmp_path / "var"),
        **standins.stripe_fake_env(fake_url), SITE_URL=base, OFFLINE_ENGINE_STEP_DELAY_MS="20",
    )
    seed = ("from apps.credits.models import CreditPackage; "
            "CreditPackage.objects.create(name='Starter', credits=500, price_cents=500, currency='usd')")
    for args in (("migrate", "--no-input", "-v", "0"), ("catalog_load",), ("shell", "-c", seed)):
        result = manage(*args, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    fake = LiveProcess(f"stripe fake :{fake_port}", [PYTHON, "-m", "devtools.stripe_fake", "--port", str(fake_port)],
                       env, tmp_path / "fake.log").start()
    server = LiveProcess(f"embedded serve :{port}", [PYTHON, "manage.py", "serve", "--host", HOST, "--port", str(port)],
                         env, tmp_path / "serve.log").start()
    try:
        wait_for(lambda: http_ok(f"{base}/healthz") and http_ok(f"{fake_url}/_fake/healthz"), timeout=STARTUP_TIMEOUT,
                 what="darkroom and the stripe fake", processes=[fake, server])
        browser = httpx.Client(base_url=base, timeout=15, trust_env=False)
        stripe_api = httpx.Client(base_url=fake_url, timeout=15, trust_env=False,
                                  headers={"Authorization": f"Bearer {FAKE_KEY}"})

        # A new user signs up and buys the package.
        signup = browser.get("/accounts/signup/").text
        response = browser.post("/accounts/signup/", data={
            "csrfmiddlewaretoken": csrf(signup), "email": "buyer@example.com", "password1": PASSWORD,
            "password2": PASSWORD,
        })
        assert response.status_code == 302
        page = browser.get("/credits/").text
        assert balance_on(browser) == 100 and "Buy for $5.00" in page
        buy_path = re.search(r'action="(/credits/buy/\d+/)"', page).group(1)
        response = browser.post(buy_path, data={"csrfmiddlewaretoken": csrf(page)})
        assert response.status_code == 303 and response.headers["location"].startswith(f"{fake_url}/checkout/cs_test_")
        checkout_url = response.headers["location"]
        session_id = checkout_url.rsplit("/", 1)[1]

        # Stripe's page: pay, and come back to Darkroom's receipt.
        checkout = httpx.get(checkout_url, trust_env=False)
        assert "Pay 5.00 USD" in checkout.text
        paid = httpx.post(f"{checkout_url}/pay", trust_env=False)
        assert paid.status_code == 303
        assert paid.headers["location"] == f"{base}/credits/checkout/done/?session_id={session_id}"
        receipt = browser.get(paid.headers["location"].removeprefix(base), follow_redirects=True)
        assert receipt.status_code == 200
        status_url = re.search(r'hx-get="([^"]+/status/)"', receipt.text)
        if status_url:  # the webhook may beat the browser back; otherwise the receipt polls
            wait_for(lambda: "Payment received" in browser.get(status_url.group(1)).text, timeout=20,
                     what="the purchase to be paid", processes=[fake, server])
        assert balance_on(browser) == 600

        # Stripe retries the same event ten times: nothing changes.
        events = stripe_api.get("/_fake/events").json()
        completed = next(e["id"] for e in events["events"] if e["type"] == "checkout.session.completed")
        for _ in range(10):
            assert stripe_api.post(f"/_fake/events/{completed}/resend").status_code == 200

        def deliveries_of(event_id):
            return [d["status"] for d in stripe_api.get("/_fake/events").json()["deliveries"] if d["event_id"] == event_id]

        wait_for(lambda: len(deliveries_of(completed)) == 11, timeout=30, what="ten replays", processes=[fake, server])
        assert deliveries_of(completed) == [200] * 11
        assert balance_on(browser) == 600

        # A refund (as from Stripe's dashboard) takes the credits back.
        payment_intent = stripe_api.get(f"/v1/checkout/sessions/{session_id}").json()["payment_intent"]
        refund = stripe_api.post("/v1/refunds", data={"payment_intent": payment_intent})
        assert refund.status_code == 200 and refund.json()["status"] == "succeeded"
        wait_for(lambda: balance_on(browser) == 100, timeout=30, what="the refund to land", processes=[fake, server])
        history = browser.get("/credits/").text
        assert "Refund of $5.00 purchase" in history and "Bought Starter ($5.00)" in history
        assert {d["status"] for d in stripe_api.get("/_fake/events").json()["deliveries"]} == {200}
    finally:
        server.stop()
        fake.stop()
    result = manage("credits_reconcile", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "Mismatches: 0 balance, 0 settlement, 0 spend."


def worker_children(worker: LiveProcess) -> list[int]:
    pid = worker.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submissions_with_workers_killed_mid_job(catalog, tmp_path):
    rng = random.Random(5)
    user, staff = UserFactory(), UserFactory()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    services.credits_adjust(user=user, amount=-90, reason="test: leave credits for exactly ten images", actor=staff)
    assert CreditAccount.objects.get(user=user).balance == 10
    secret = api_key_create(user=user, name="load").secret

    redis_url = f"redis://{HOST}:6379/{KILL_REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    ports = [free_port(), free_port()]
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=f"postgres://postgres@{HOST}:5432/{connection.settings_dict['NAME']}",
        REDIS_URL=redis_url, SECRET_KEY=settings.SECRET_KEY, ALLOWED_HOSTS=f"{HOST},localhost",
        SITE_URL=f"http://{HOST}:{ports[0]}", MEDIA_ROOT=str(tmp_path / "media"),
        DARKROOM_VAR_DIR=str(tmp_path / "var"), OFFLINE_ENGINE_STEPS="12", OFFLINE_ENGINE_STEP_DELAY_MS="120",
        OFFLINE_ENGINE_FAILURE_RATE="0.2", RATE_LIMIT_CONCURRENT_JOBS="0", LOG_LEVEL="INFO",
    )
    webs = [
        LiveProcess(f"web :{p}", [PYTHON, "-m", "daphne", "-b", HOST, "-p", str(p), "config.asgi:application"],
                    env, tmp_path / f"web-{p}.log").start()
        for p in ports
    ]
    worker = LiveProcess(
        "worker (prefork)",
        [PYTHON, "-m", "celery", "-A", "config", "worker", "-Q", "default,io", "-c", "4", "--pool", "prefork",
         "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=INFO",
         "-n", f"credits-kill-{ports[0]}@%h"],
        env, tmp_path / "worker.log",
    ).start()
    processes = [*webs, worker]
    try:
        for p in ports:
            wait_for(lambda p=p: http_ok(f"http://{HOST}:{p}/healthz"), timeout=STARTUP_TIMEOUT, what=f"web :{p}",
                     processes=processes)
        wait_for(lambda: re.search(r"\bready\.", worker.log()), timeout=STARTUP_TIMEOUT, what="worker ready",
                 processes=processes)

        results: list[tuple[int, str]] = []
        barrier = threading.Barrier(50)

        def submit(index: int):
            with httpx.Client(base_url=f"http://{HOST}:{ports[index % 2]}", timeout=60, trust_env=False) as client:
                barrier.wait()
                response = client.post("/api/v1/generations", headers={"Authorization": f"Bearer {secret}"},
                                       json={"model": "offline-sketch", "prompt": f"storm {index}", "tier": "draft"})
                results.append((response.status_code, response.json().get("code", "")))

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()

        # Kill pool processes while jobs run: Celery requeues their tasks (reject_on_worker_lost).
        killed = 0
        deadline = time.monotonic() + 20
        while killed < 3 and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.4, 1.0))
            if Generation.objects.filter(owner=user, status=Status.RUNNING).exists() and (children := worker_children(worker)):
                os.kill(rng.choice(children), signal.SIGKILL)
                killed += 1
        for thread in threads:
            thread.join(timeout=60)

        assert sorted(results) == [(201, "")] * 10 + [(402, "insufficient_credits")] * 40
        assert killed == 3

        def settled():
            return not Generation.objects.filter(owner=user, status__in=ACTIVE).exists()

        try:
            wait_for(settled, timeout=30, what="every generation to end", processes=processes)
        except TimeoutError:
            # A job killed while saving waits for the reaper; let its deadline pass now.
            Generation.objects.filter(owner=user, status__in=ACTIVE).update(deadline_at=timezone.now())
            generation_services.generations_reap_stuck()
        assert settled()
    finally:
        for process in processes:
            process.stop()

    generations = list(Generation.objects.filter(owner=user))
    assert len(generations) == 10
    for generation in generations:
        kinds = list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", flat=True))
        expected = ["reserve", "capture"] if generation.status == Status.SUCCEEDED else ["reserve", "release"]
        assert kinds == expected, (generation.status, kinds)
    failed = sum(g.status != Status.SUCCEEDED for g in generations)
    assert CreditAccount.objects.get(user=user).balance == failed  # only successes were charged
    report = services.credits_reconcile()
    mine = {str(g.id) for g in generations}
    assert [r for r in report["balance_mismatches"] if r["user_id"] == user.pk] == []
    assert [r for r in report["settlement_mismatches"] if r["generation_id"] in mine] == []
