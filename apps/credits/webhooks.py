"""Stripe events, as dj-stripe delivers them after verifying the signature and deduplicating by
event id. Each receiver calls one service; each service is idempotent by the Stripe object's id, so
replays, duplicates and out-of-order deliveries change nothing. An exception here rolls back
dj-stripe's Event row and answers 500, so Stripe retries the delivery later.
"""

from djstripe.event_handlers import djstripe_receiver

from . import services
from .models import Purchase


@djstripe_receiver(["checkout.session.completed", "checkout.session.async_payment_succeeded"])
def checkout_paid(sender, event, **kwargs):
    services.credits_purchase_grant(session=event.data["object"])


@djstripe_receiver("checkout.session.async_payment_failed")
def checkout_payment_failed(sender, event, **kwargs):
    services.credits_purchase_close(session=event.data["object"], status=Purchase.Status.FAILED)


@djstripe_receiver("checkout.session.expired")
def checkout_expired(sender, event, **kwargs):
    services.credits_purchase_close(session=event.data["object"], status=Purchase.Status.EXPIRED)


@djstripe_receiver(["refund.created", "refund.updated", "refund.failed", "charge.refund.updated"])
def refund_changed(sender, event, **kwargs):
    services.credits_refund_apply(refund_id=event.data["object"]["id"])


@djstripe_receiver("charge.refunded")
def charge_refunded(sender, event, **kwargs):
    services.credits_charge_refunds_apply(charge_id=event.data["object"]["id"])


@djstripe_receiver([
    "charge.dispute.created", "charge.dispute.updated", "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated", "charge.dispute.closed",
])
def dispute_changed(sender, event, **kwargs):
    services.credits_dispute_apply(dispute_id=event.data["object"]["id"])
