"""Celery tasks: take ids, call one service, safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def library_purge_task(*, kind: str, item_id: str) -> bool:
    return services.library_purge(kind=kind, item_id=item_id)


@shared_task
def library_purge_due_task() -> int:
    return services.library_purge_due() + services.data_exports_expire()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def data_export_build_task(*, export_id: str, notify: bool = True) -> None:
    services.data_export_build(export_id=export_id, notify=notify)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def account_purge_task(*, user_id: int) -> None:
    services.account_purge(user_id=user_id)
