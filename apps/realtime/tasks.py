from celery import shared_task

from .publish import events_trim


@shared_task(acks_late=True)
def events_trim_task() -> int:
    return events_trim()
