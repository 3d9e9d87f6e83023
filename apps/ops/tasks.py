from celery import shared_task

from .services.probes import benchmark_round, probe_run
from .services.retention import retention_prune


@shared_task(acks_late=True)
def retention_prune_task() -> dict[str, int]:
    return retention_prune()


@shared_task(acks_late=True)
def benchmark_round_task() -> list[int]:
    return benchmark_round()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def probe_run_task(*, probe_id: int) -> None:
    probe_run(probe_id=probe_id)
