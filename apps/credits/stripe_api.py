"""The few Stripe calls Darkroom makes, through stripe-python and dj-stripe's models.

`stripe.api_base` follows the STRIPE_API_BASE setting (tests and demos point it at
`devtools.stripe_fake`). Every call passes the key and API version explicitly.
"""

import stripe
from django.conf import settings
from djstripe.models import Session
from djstripe.settings import djstripe_settings

from .exceptions import PaymentProviderError

# Connect and read timeouts (seconds): a webhook or a buy button never hangs on Stripe for long.
_http_client = stripe.RequestsClient(timeout=(5, 20))


def stripe_configure() -> None:
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.default_http_client = _http_client


def stripe_is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def _options() -> dict:
    stripe_configure()
    return {"api_key": settings.STRIPE_SECRET_KEY, "stripe_version": djstripe_settings.STRIPE_API_VERSION}


def checkout_session_create(*, purchase, email: str, success_url: str, cancel_url: str) -> dict:
    """A Checkout Session in payment mode for one purchase; Stripe replays it for the same purchase."""
    package = purchase.package
    if package.stripe_price_id:
        line_item = {"price": package.stripe_price_id, "quantity": 1}
    else:
        line_item = {
            "quantity": 1,
            "price_data": {
                "currency": purchase.currency,
                "unit_amount": purchase.amount_cents,
                "product_data": {"name": f"{package.name} — {purchase.credits} Darkroom credits"},
            },
        }
    metadata = {"darkroom_purchase": str(purchase.pk), "darkroom_user": str(purchase.user_id)}
    stripe_configure()
    try:
        session = Session._api_create(
            mode="payment",
            line_items=[line_item],
            client_reference_id=str(purchase.pk),
            customer_email=email or None,
            metadata=metadata,
            payment_intent_data={"metadata": metadata},
            success_url=success_url,
            cancel_url=cancel_url,
            idempotency_key=f"darkroom-checkout-{purchase.pk}",
            livemode=settings.STRIPE_LIVE_MODE,
        )
    except stripe.StripeError as error:
        raise PaymentProviderError() from error
    return _plain(session)


def checkout_session_retrieve(session_id: str) -> dict:
    return _plain(stripe.checkout.Session.retrieve(session_id, **_options()))


def payment_intent_retrieve(payment_intent_id: str) -> dict:
    return _plain(stripe.PaymentIntent.retrieve(payment_intent_id, **_options()))


def charge_retrieve(charge_id: str) -> dict:
    return _plain(stripe.Charge.retrieve(charge_id, **_options()))


def refund_retrieve(refund_id: str) -> dict:
    return _plain(stripe.Refund.retrieve(refund_id, **_options()))


def refunds_for_charge(charge_id: str) -> list[dict]:
    refunds = stripe.Refund.list(charge=charge_id, limit=100, **_options())
    return [_plain(refund) for refund in refunds.auto_paging_iter()]


def dispute_retrieve(dispute_id: str) -> dict:
    return _plain(stripe.Dispute.retrieve(dispute_id, **_options()))


def refund_create(*, payment_intent_id: str, idempotency_key: str) -> dict:
    try:
        refund = stripe.Refund.create(
            payment_intent=payment_intent_id, reason="requested_by_customer",
            idempotency_key=idempotency_key, **_options(),
        )
    except stripe.StripeError as error:
        raise PaymentProviderError() from error
    return _plain(refund)


def _plain(obj) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
