"""Celery tasks for credits: take what they need, call one service, safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def credits_daily_refresh_task() -> dict:
    """Beat, daily just after midnight UTC. Idempotent per user per day through the ledger key."""
    return services.credits_daily_refresh()


@shared_task(acks_late=True)
def credits_spend_totals_refresh_task() -> int:
    """Beat, every minute: everyone's daily spend rows from the users' rows. Safe to overlap."""
    return services.credits_spend_totals_refresh()
