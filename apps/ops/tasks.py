from celery import shared_task

from .services.retention import retention_prune


@shared_task(acks_late=True)
def retention_prune_task() -> dict[str, int]:
    return retention_prune()
