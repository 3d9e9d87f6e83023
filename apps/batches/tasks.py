from celery import shared_task

from . import services


@shared_task(acks_late=True)
def batches_finish_stale_task() -> int:
    return services.batches_finish_stale()
