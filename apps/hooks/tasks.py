"""Celery tasks: take ids, call one service, safe to run twice (a delivery is claimed first).

Services enqueue these tasks, so the services are imported when a task runs, not at import time."""

from celery import shared_task


@shared_task(acks_late=True)
def webhook_deliver_task(*, delivery_id: int) -> None:
    from .services import webhook_delivery_attempt

    webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(acks_late=True)
def webhook_deliveries_due_task() -> int:
    from .services import webhook_deliveries_due

    return webhook_deliveries_due()
