"""Celery tasks: take ids, call one service, safe to run twice (a delivery is claimed first)."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def webhook_deliver_task(*, delivery_id: int) -> None:
    services.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(acks_late=True)
def webhook_deliveries_due_task() -> int:
    return services.webhook_deliveries_due()
