"""Leases and the reaper: abandoned jobs are re-driven, live ones are left alone, nothing twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core import leases
from apps.credits.models import LedgerEntry
from apps.generations import recovery, services, tasks
from apps.generations.models import Generation, GenerationImage, Status
from apps.generations.services import dispatch
from apps.providers.types import Route
from tests.generations.factories import GenerationFactory
from tests.generations.leases import other_worker_holding

pytestmark = pytest.mark.usefixtures("catalog")


def ledger(generation):
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def running_since(generation, seconds: int):
    services.generation_claim(generation.id)
    dispatch.generation_mark_running(generation.id, route_index=0, route=Route("offline", "procedural-sketch-v1"))
    Generation.objects.filter(pk=generation.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


def test_a_running_job_nobody_holds_is_run_again_and_charged_once(user, django_capture_on_commit_callbacks):
    generation = GenerationFactory(owner=user)
    running_since(generation, 60)  # its worker was killed mid-run

    with django_capture_on_commit_callbacks(execute=True):
        assert services.generations_reap_stuck() == {"failed": 0, "redriven": 1}

    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert GenerationImage.objects.filter(generation=generation).count() == 1
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]


def test_a_job_whose_lease_is_held_is_left_alone_however_old(user, django_capture_on_commit_callbacks):
    generation = GenerationFactory(owner=user)
    running_since(generation, 600)  # a slow provider call, still in progress elsewhere

    with other_worker_holding(generation.id):
        assert not leases.lease_abandoned(generation.id)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.generations_reap_stuck() == {"failed": 0, "redriven": 0}
        # A redelivered copy of its message finds the lease taken and does nothing.
        tasks.generation_run_task(generation_id=str(generation.id))
    assert Generation.objects.get(pk=generation.pk).status == Status.RUNNING
    assert leases.lease_abandoned(generation.id)


def test_a_fresh_running_job_is_not_re_driven(user, django_capture_on_commit_callbacks):
    generation = GenerationFactory(owner=user)
    running_since(generation, 0)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.generations_reap_stuck()["redriven"] == 0
    assert Generation.objects.get(pk=generation.pk).status == Status.RUNNING


def test_a_job_left_half_saved_in_finishing_is_finished_once(user, django_capture_on_commit_callbacks):
    generation = GenerationFactory(owner=user)
    running_since(generation, 0)
    # The worker moved it to `finishing`, wrote a file, and died before the charge.
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.FINISHING, finishing_at=timezone.now() - timedelta(seconds=60),
        updated_at=timezone.now() - timedelta(seconds=60),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert services.generations_reap_stuck()["redriven"] == 1

    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    assert GenerationImage.objects.filter(generation=generation).count() == 1
    assert ledger(generation) == [("reserve", -1), ("capture", 0)]


def test_a_finishing_job_with_a_live_finisher_is_not_taken_over(user, django_capture_on_commit_callbacks):
    generation = GenerationFactory(owner=user)
    running_since(generation, 0)
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.FINISHING, finishing_at=timezone.now() - timedelta(seconds=60),
        updated_at=timezone.now() - timedelta(seconds=60),
    )
    with other_worker_holding(generation.id), django_capture_on_commit_callbacks(execute=True):
        assert services.generations_reap_stuck()["redriven"] == 0
    assert Generation.objects.get(pk=generation.pk).status == Status.FINISHING
    assert ledger(generation) == [("reserve", -1)]


def test_a_queued_job_is_re_sent_once_per_window(user, django_capture_on_commit_callbacks, monkeypatch):
    generation = GenerationFactory(owner=user)
    old = timezone.now() - timedelta(minutes=1)
    Generation.objects.filter(pk=generation.pk).update(created_at=old, updated_at=old)
    sent = []
    monkeypatch.setattr(tasks.generation_run_task, "apply_async", lambda **options: sent.append(options))

    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.generations_redrive_stuck() == 1
        assert recovery.generations_redrive_stuck() == 0  # touched: not again until the window passes
    # A lost queued job keeps its place in line: no jumping ahead of the jobs queued before it.
    assert sent == [{"kwargs": {"generation_id": str(generation.id)}, "priority": None}]


def test_a_queued_job_waiting_behind_a_backlog_is_not_re_sent_until_it_waited_long(
    user, django_capture_on_commit_callbacks, monkeypatch, settings
):
    generation = GenerationFactory(owner=user)
    monkeypatch.setattr(recovery, "_broker_backlog", lambda task: 250)
    window = settings.GENERATIONS_REDRIVE_QUEUED_SECONDS
    old = timezone.now() - timedelta(seconds=window * 2)
    Generation.objects.filter(pk=generation.pk).update(created_at=old, updated_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.generations_redrive_stuck() == 0  # its message is most likely in the backlog

    older = timezone.now() - timedelta(seconds=window * 5)
    Generation.objects.filter(pk=generation.pk).update(created_at=older, updated_at=older)
    sent = []
    monkeypatch.setattr(tasks.generation_run_task, "apply_async", lambda **options: sent.append(options))
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.generations_redrive_stuck() == 1
    assert len(sent) == 1


def test_a_job_a_dead_worker_dropped_is_sent_ahead_of_the_backlog(
    user, django_capture_on_commit_callbacks, monkeypatch, settings
):
    generation = GenerationFactory(owner=user)
    running_since(generation, 60)
    sent = []
    monkeypatch.setattr(tasks.generation_run_task, "apply_async", lambda **options: sent.append(options))
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.generations_redrive_stuck() == 1
    assert sent == [{"kwargs": {"generation_id": str(generation.id)}, "priority": settings.TASK_PRIORITY_RECOVERY}]


def test_the_broker_serves_recovery_priority_before_everyday_work(settings):
    """On the real Redis broker: a message at the recovery priority, sent after a backlog of everyday
    ones, is the next one taken."""
    import uuid

    from celery import current_app
    from kombu import Queue

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs the Redis broker")
    queue = Queue(f"test-priority-{uuid.uuid4().hex[:8]}")
    with current_app.connection_for_write() as conn:
        producer = conn.Producer()
        for n in range(3):
            producer.publish({"n": n}, routing_key=queue.name, declare=[queue],
                             priority=current_app.conf.task_default_priority)
        producer.publish({"n": "recovered"}, routing_key=queue.name, declare=[queue],
                         priority=settings.TASK_PRIORITY_RECOVERY)
        assert conn.default_channel.queue_declare(queue=queue.name, passive=True).message_count == 4
        simple = conn.SimpleQueue(queue)
        try:
            taken = []
            for _ in range(4):
                message = simple.get(timeout=2)
                taken.append(message.payload["n"])
                message.ack()
        finally:
            simple.queue.delete()
            simple.close()
    assert taken == ["recovered", 0, 1, 2]
