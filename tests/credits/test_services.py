import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from apps.catalog import pricing
from apps.catalog.models import CatalogModel
from apps.credits import services
from apps.credits.exceptions import AdjustmentError, InsufficientCreditsError, RateLimitedError
from apps.credits.models import CreditAccount, DailySpend, LedgerEntry
from apps.credits.selectors import credits_balance_get, credits_ledger_balance, credits_spend_today
from apps.credits.tasks import credits_daily_refresh_task
from apps.generations import services as generation_services
from apps.generations import tasks as generation_tasks
from apps.generations.models import Generation, Status
from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory


def entries(generation):
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def balance(user) -> int:
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user)
    return credits_balance_get(user=user)


@pytest.fixture
def staff(db):
    user = UserFactory()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def connect() -> None:
    """Open this thread's database connection before the race starts. PostgreSQL is shared with
    other test runs, so wait (bounded) for a free connection slot rather than fail mid-race."""
    for _ in range(100):
        try:
            connection.ensure_connection()
            return
        except OperationalError:
            time.sleep(0.1)
    connection.ensure_connection()


# ---------------------------------------------------------------- reserve, capture, release


def test_reserve_then_capture_charges_the_quote_once(catalog, user):
    generation = GenerationFactory(owner=user, tier="standard", num_images=2)  # 2 × 2 credits, reserved
    services.credits_capture(generation=generation)
    services.credits_capture(generation=generation)
    assert entries(generation) == [("reserve", -4), ("capture", 0)]
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user) == 96


def test_release_returns_the_hold_once_and_never_after_a_capture(catalog, user):
    released = GenerationFactory(owner=user)
    services.credits_release(generation=released)
    services.credits_release(generation=released)
    assert services.credits_capture(generation=released) is None
    assert entries(released) == [("reserve", -1), ("release", 1)]

    captured = GenerationFactory(owner=user)
    services.credits_capture(generation=captured)
    assert services.credits_release(generation=captured) is None
    assert entries(captured) == [("reserve", -1), ("capture", 0)]
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user) == 99


def test_a_reserve_beyond_the_balance_is_refused_and_changes_nothing(catalog, user):
    CreditAccount.objects.filter(user=user).update(balance=1)
    with pytest.raises(InsufficientCreditsError) as raised:
        GenerationFactory(owner=user, tier="standard")
    assert raised.value.extra == {"needed": 2, "balance": 1}
    assert raised.value.message == "This needs 2 credits and your balance is 1."
    assert Generation.objects.count() == 0
    assert CreditAccount.objects.get(user=user).balance == 1


def test_ledger_rows_cannot_be_changed_or_deleted(user):
    entry = LedgerEntry.objects.get(user=user)
    entry.amount = 1_000_000
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    # The database refuses too, whatever asks: queryset updates, deletes, raw SQL.
    for statement in (
        lambda: LedgerEntry.objects.filter(pk=entry.pk).update(amount=1_000_000),
        lambda: LedgerEntry.objects.filter(pk=entry.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            statement()
    assert LedgerEntry.objects.get(user=user).amount == 100


def test_the_quote_is_held_even_if_prices_change_before_the_end(catalog, user):
    kept = GenerationFactory(owner=user, tier="standard", num_images=2)
    returned = GenerationFactory(owner=user, tier="standard", num_images=2)
    model = CatalogModel.objects.get(slug="offline-sketch")
    model.tiers = [{**tier, "price": tier["price"] * 10} for tier in model.tiers]
    model.save()
    services.credits_capture(generation=kept)
    services.credits_release(generation=returned)
    assert (kept.quoted_credits, returned.quoted_credits) == (4, 4)
    assert entries(kept) == [("reserve", -4), ("capture", 0)]
    assert entries(returned) == [("reserve", -4), ("release", 4)]
    assert balance(user) == 96


def test_video_is_priced_per_second(catalog):
    video = CatalogModel.objects.get(slug="kling-video")
    assert pricing.quote(catalog_model=video, tier=None, num_images=1) == 50
    assert pricing.quote(catalog_model=video, tier=None, num_images=1, duration_seconds=8) == 80
    image = CatalogModel.objects.get(slug="offline-studio")
    assert pricing.quote(catalog_model=image, tier="large", num_images=3) == 18


# ---------------------------------------------------------------- limits


def test_generations_per_hour_are_limited_with_the_time_to_wait(catalog, user, settings, frozen):
    settings.RATE_LIMIT_GENERATIONS_PER_HOUR = 3
    now = frozen(datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC))
    made = [GenerationFactory(owner=user) for _ in range(3)]
    for minutes, generation in zip((50, 40, 30), made, strict=True):
        Generation.objects.filter(pk=generation.pk).update(created_at=now - timedelta(minutes=minutes))

    with pytest.raises(RateLimitedError) as raised:
        GenerationFactory(owner=user)

    assert (raised.value.code, raised.value.http_status, raised.value.retry_after) == ("rate_limited", 429, 600)
    assert raised.value.message == "You can start 3 generations an hour. Try again in 10 minutes."
    assert Generation.objects.count() == 3 and balance(user) == 97
    Generation.objects.filter(pk=made[0].pk).update(created_at=now - timedelta(minutes=61))
    GenerationFactory(owner=user)  # the oldest left the window
    assert Generation.objects.count() == 4


def test_concurrent_jobs_are_limited(catalog, user, other_user, settings):
    settings.RATE_LIMIT_CONCURRENT_JOBS = 2
    first, _ = GenerationFactory(owner=user), GenerationFactory(owner=user)  # queued: never run in this test

    with pytest.raises(RateLimitedError) as raised:
        GenerationFactory(owner=user)
    assert (raised.value.code, raised.value.retry_after) == ("too_many_active", 10)
    assert raised.value.message == (
        "You have 2 generations in progress, the most at once. Start another when one finishes "
        "(try again in 10 seconds)."
    )
    GenerationFactory(owner=other_user)  # per user
    generation_services.generation_cancel(user=user, generation_id=first.id)
    GenerationFactory(owner=user)  # a finished job frees a slot
    assert Generation.objects.filter(owner=user).count() == 3


def test_a_batch_counts_as_one_job_against_the_concurrent_limit(catalog, user, other_user, settings):
    from apps.batches import services as batch_services

    settings.RATE_LIMIT_CONCURRENT_JOBS = 2
    items = [{"model": "offline-sketch", "prompt": f"p{n}"} for n in range(5)]
    batch_services.batch_create(user=user, items=items, source="prompts")  # queued: never run in this test
    alone = GenerationFactory(owner=user)  # the batch is one job, this is the second

    with pytest.raises(RateLimitedError) as raised:
        GenerationFactory(owner=user)
    assert (raised.value.code, raised.value.retry_after) == ("too_many_active", 10)
    assert raised.value.message == (
        "You have 2 jobs (a batch counts as one) in progress, the most at once. Start another when one "
        "finishes (try again in 10 seconds)."
    )
    with pytest.raises(RateLimitedError):
        batch_services.batch_create(user=user, items=items[:1], source="prompts")
    batch_services.batch_create(user=other_user, items=items, source="prompts")  # per user
    generation_services.generation_cancel(user=user, generation_id=alone.id)
    batch_services.batch_create(user=user, items=items, source="prompts")  # two batches: two jobs
    assert Generation.objects.filter(owner=user, status="queued").count() == 10
    assert balance(user) == 90


def test_the_daily_spend_cap_counts_what_is_held_or_charged_today(catalog, user, settings, frozen):
    settings.USER_DAILY_SPEND_CAP = 5
    frozen(datetime(2026, 11, 21, 23, 59, 0, tzinfo=UTC))
    big = GenerationFactory(owner=user, tier="standard", num_images=2)  # 4
    GenerationFactory(owner=user)  # 1: exactly at the cap

    with pytest.raises(RateLimitedError) as raised:
        GenerationFactory(owner=user)
    assert (raised.value.code, raised.value.retry_after) == ("spend_cap_reached", 60)
    assert raised.value.message == (
        "This would pass your daily limit of 5 credits (5 used today). It resets at midnight UTC, in 1 minute."
    )
    generation_services.generation_cancel(user=user, generation_id=big.id)  # returned credits don't count
    GenerationFactory(owner=user)
    assert DailySpend.objects.get(day=date(2026, 11, 21), user=user).spent == 2


def test_the_global_daily_budget_is_shared_by_everyone(catalog, user, other_user, settings, frozen):
    settings.GLOBAL_DAILY_BUDGET = 3
    frozen(datetime(2026, 11, 21, 22, 0, 0, tzinfo=UTC))
    GenerationFactory(owner=user, tier="standard")  # 2

    with pytest.raises(RateLimitedError) as raised:
        GenerationFactory(owner=other_user, tier="standard")
    assert (raised.value.code, raised.value.http_status, raised.value.retry_after) == ("budget_exhausted", 429, 7200)
    assert raised.value.message == (
        "This server has used its generation budget for today. Try again after midnight UTC, in 2 hours."
    )
    GenerationFactory(owner=other_user)  # 1 more fits exactly
    assert DailySpend.objects.get(day=date(2026, 11, 21), user=None).spent == 3
    assert balance(other_user) == 99


@pytest.mark.django_db(transaction=True)
def test_the_global_budget_holds_under_concurrent_users(catalog, settings):
    """Twelve users at once against a budget of five credits: five get through, across connections."""
    settings.GLOBAL_DAILY_BUDGET = 5
    settings.RATE_LIMIT_GENERATIONS_PER_HOUR = 0
    users = [UserFactory() for _ in range(12)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(users))

    def submit(user):
        connect()
        barrier.wait()
        try:
            GenerationFactory(owner=user)
            outcomes.append("ok")
        except RateLimitedError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["budget_exhausted"] * 7 + ["ok"] * 5
    assert DailySpend.objects.get(day=timezone.localdate(), user=None).spent == 5
    assert services.credits_reconcile()["spend_mismatches"] == []


def test_staff_are_alerted_once_when_the_days_spend_passes_the_threshold(
    catalog, user, settings, caplog, django_capture_on_commit_callbacks
):
    settings.DAILY_SPEND_ALERT_CREDITS = 3
    settings.ADMINS = ["ops@example.com"]
    # Without a global budget the day's total is summed by the minute refresh, which alerts.
    with django_capture_on_commit_callbacks(execute=True):
        GenerationFactory(owner=user, tier="standard")  # 2
        services.credits_spend_totals_refresh()
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        GenerationFactory(owner=user, tier="standard")  # 4: passes 3
        services.credits_spend_totals_refresh()
        GenerationFactory(owner=user, tier="standard")  # 6: already alerted today
        services.credits_spend_totals_refresh()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"]
    assert mail.outbox[0].subject.endswith(f"Credit spend for {timezone.localdate().isoformat()} passed 3")
    assert "Users had spent 4 credits" in mail.outbox[0].body
    assert [r.message for r in caplog.records if r.levelname == "WARNING"] == [
        "daily credit spend passed the alert threshold"
    ]
    assert DailySpend.objects.get(day=timezone.localdate(), user=None).alerted_at is not None


def test_without_a_budget_submits_leave_everyones_row_to_the_refresh(catalog, user, other_user, settings):
    settings.GLOBAL_DAILY_BUDGET = 0
    today = timezone.localdate()
    GenerationFactory(owner=user, tier="standard")  # 2
    failed = GenerationFactory(owner=other_user)  # 1, returned below
    GenerationFactory(owner=other_user)  # 1
    generation_services.generation_fail(generation_id=failed.id, code="x", message="x")
    # No submit queued on everyone's row; the users' rows are exact at once.
    assert not DailySpend.objects.filter(day=today, user=None).exists()
    assert dict(DailySpend.objects.filter(day=today).values_list("user", "spent")) == {user.pk: 2, other_user.pk: 1}
    assert services.credits_reconcile()["spend_mismatches"] == []
    assert credits_spend_today(day=today) == 3

    assert services.credits_spend_totals_refresh() == 1
    assert DailySpend.objects.get(day=today, user=None).spent == 3
    assert services.credits_spend_totals_refresh() == 0  # already the sum
    assert services.credits_reconcile()["spend_mismatches"] == []


def test_a_submit_takes_a_handful_of_queries(catalog, user, settings, django_assert_max_num_queries):
    """Lock the account once, all the limits in one read, the hold in three writes (and the model,
    the insert and the savepoint around it); the hold used to take twice as many."""
    settings.GLOBAL_DAILY_BUDGET = 0
    settings.DAILY_SPEND_ALERT_CREDITS = 0
    GenerationFactory(owner=user)
    with django_assert_max_num_queries(10):
        generation_services.generation_create(user=user, model_slug="offline-sketch", prompt="a kite")


# ---------------------------------------------------------------- grants and adjustments


def test_the_daily_refresh_tops_balances_up_once_per_user_per_day(user, settings):
    settings.DAILY_FREE_CREDITS = 10
    low, empty = UserFactory(), UserFactory()
    CreditAccount.objects.filter(user=low).update(balance=3)
    CreditAccount.objects.filter(user=empty).update(balance=0)
    day = date(2026, 11, 21)

    assert services.credits_daily_refresh(day=day) == {"day": "2026-11-21", "granted": 2, "credits": 17}
    assert services.credits_daily_refresh(day=day) == {"day": "2026-11-21", "granted": 0, "credits": 0}
    CreditAccount.objects.filter(user=low).update(balance=0)  # spent it all the same day
    assert services.credits_daily_refresh(day=day) == {"day": "2026-11-21", "granted": 0, "credits": 0}
    assert services.credits_daily_refresh(day=day + timedelta(days=1)) == {"day": "2026-11-22", "granted": 1, "credits": 10}

    assert credits_balance_get(user=user) == 100
    assert credits_balance_get(user=low) == 10 and credits_balance_get(user=empty) == 10
    assert list(LedgerEntry.objects.filter(user=low, kind="daily").order_by("id").values_list("amount", "memo")) == [
        (7, "Daily free credits (2026-11-21)"), (10, "Daily free credits (2026-11-22)"),
    ]


def test_the_daily_refresh_is_a_beat_task(settings, user):
    settings.DAILY_FREE_CREDITS = 150
    assert settings.CELERY_BEAT_SCHEDULE["credits-daily-refresh"]["task"] == "apps.credits.tasks.credits_daily_refresh_task"
    result = credits_daily_refresh_task.delay().get()
    assert result == {"day": timezone.localdate().isoformat(), "granted": 1, "credits": 50}
    credits_daily_refresh_task.delay()
    assert balance(user) == 150


def test_staff_adjust_with_a_reason_and_their_name_on_it(user, staff):
    entry = services.credits_adjust(user=user, amount=25, reason="  Sorry about the outage ", actor=staff)
    assert (entry.kind, entry.amount, entry.memo, entry.actor) == ("adjustment", 25, "Sorry about the outage", staff)
    services.credits_adjust(user=user, amount=-125, reason="Chargeback", actor=staff)
    assert balance(user) == 0
    with pytest.raises(InsufficientCreditsError):
        services.credits_adjust(user=user, amount=-1, reason="More", actor=staff)
    with pytest.raises(AdjustmentError, match="Give the reason"):
        services.credits_adjust(user=user, amount=5, reason=" ", actor=staff)
    with pytest.raises(AdjustmentError, match="Only staff"):
        services.credits_adjust(user=user, amount=5, reason="Gift", actor=user)
    same = services.credits_adjust(user=user, amount=5, reason="Gift", actor=staff, idempotency_key="form-1")
    assert services.credits_adjust(user=user, amount=5, reason="Gift", actor=staff, idempotency_key="form-1") == same
    assert balance(user) == 5


# ---------------------------------------------------------------- reconciliation and concurrency


def test_reconcile_finds_nothing_wrong_with_a_consistent_ledger(catalog, user, other_user):
    generation = GenerationFactory(owner=user)
    services.credits_capture(generation=generation)
    failed = GenerationFactory(owner=other_user)
    generation_services.generation_fail(generation_id=failed.id, code="x", message="x")
    generation.refresh_from_db()
    # Succeeded as finishing leaves it: charged its whole quote for its one image.
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.SUCCEEDED, images_delivered=1, charged_credits=generation.quoted_credits
    )
    report = services.credits_reconcile()
    assert (report["accounts"], report["entries"]) == (2, 6)
    assert report["balance_mismatches"] == report["settlement_mismatches"] == report["spend_mismatches"] == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_overspend(catalog, settings):
    """Ten threads race for credits that cover exactly four draft images."""
    settings.SIGNUP_GRANT_CREDITS = 4
    user = UserFactory()
    outcomes: list[str] = []
    barrier = threading.Barrier(10)

    def submit():
        connect()
        barrier.wait()
        try:
            GenerationFactory(owner=user)
            outcomes.append("ok")
        except InsufficientCreditsError:
            outcomes.append("insufficient")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["insufficient"] * 6 + ["ok"] * 4
    assert LedgerEntry.objects.filter(user=user, kind="reserve").count() == 4
    # Each job ran to the end at commit; the four holds were captured, nothing was returned.
    assert LedgerEntry.objects.filter(user=user, kind="capture").count() == 4
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user) == 0


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submissions_get_exactly_ten_holds_and_dead_workers_cost_nothing(
    catalog, settings, monkeypatch
):
    """Fifty threads submit at once for a user whose credits cover exactly ten draft images. Every
    third job's worker "dies" right after claiming it (the job is left dispatched, as after a
    SIGKILL); the deadline reaper then fails those and returns their credits."""
    settings.SIGNUP_GRANT_CREDITS = 10
    settings.RATE_LIMIT_CONCURRENT_JOBS = 0
    user = UserFactory()
    run = generation_tasks.generation_run_task.delay
    started, killed = [0], []
    lock = threading.Lock()

    def run_or_die(*, generation_id):
        with lock:
            started[0] += 1
            dies = started[0] % 3 == 0
        if not dies:
            return run(generation_id=generation_id)
        generation_services.generation_claim(generation_id)  # claimed, then the worker is gone
        killed.append(generation_id)

    monkeypatch.setattr(generation_tasks.generation_run_task, "delay", run_or_die)
    outcomes: list[str] = []
    barrier = threading.Barrier(50)

    def submit():
        connect()
        barrier.wait()
        try:
            GenerationFactory(owner=user)
            outcomes.append("ok")
        except InsufficientCreditsError as error:
            outcomes.append(error.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert outcomes.count("ok") == 10
    assert sorted(set(outcomes) - {"ok"}) == ["This needs 1 credit and your balance is 0."]
    assert len(outcomes) == 50
    assert LedgerEntry.objects.filter(user=user, kind="reserve").count() == 10
    assert len(killed) == 3
    assert set(Generation.objects.filter(pk__in=killed).values_list("status", flat=True)) == {Status.DISPATCHED}

    Generation.objects.filter(pk__in=killed).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert generation_services.generations_reap_stuck()["failed"] == 3

    statuses = dict(Generation.objects.values_list("pk", "status"))
    assert sorted(statuses.values()) == [Status.FAILED] * 3 + [Status.SUCCEEDED] * 7
    for generation_id, status in statuses.items():
        kinds = [kind for kind, _ in entries(Generation.objects.get(pk=generation_id))]
        assert kinds == (["reserve", "capture"] if status == Status.SUCCEEDED else ["reserve", "release"])
    assert balance(user) == 3  # the three failed jobs cost nothing
    report = services.credits_reconcile()
    assert report["balance_mismatches"] == report["settlement_mismatches"] == report["spend_mismatches"] == []


@pytest.mark.parametrize(("needed", "message"), [
    (1, "This needs 1 credit and your balance is 0."),
    (2, "This needs 2 credits and your balance is 0."),
])
def test_the_insufficient_credits_message_agrees_in_number(needed, message):
    assert InsufficientCreditsError(needed=needed, balance=0).message == message
