"""Buying credits with Stripe Checkout, and taking them back on refunds and disputes (and
returning them when a refund fails or a dispute is won). Each Stripe object acts once, by its id."""

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from apps.core.audit import field_changes, staff_action_record
from apps.core.exceptions import NotFoundError

from .. import stripe_api
from ..exceptions import AdjustmentError, PaymentProviderError, PurchasesUnavailableError
from ..models import CreditPackage, LedgerEntry, Purchase, PurchaseReversal
from .ledger import account_lock, entry_append
from .stripe_endpoint import credits_stripe_webhook_endpoint_sync

logger = logging.getLogger(__name__)

# Refund and dispute states in which the money is (or is about to be) gone, or has come back.
REFUND_TAKEN = {"pending", "requires_action", "succeeded"}
REFUND_UNDONE = {"failed", "canceled"}
DISPUTE_TAKEN = {"needs_response", "under_review", "lost"}
DISPUTE_UNDONE = {"won", "warning_closed"}


def credits_checkout_start(*, user, package_id, success_url: str, cancel_url: str) -> tuple[Purchase, str]:
    """Record the purchase, then open a Stripe Checkout Session for it. Returns (purchase, checkout url)."""
    if not stripe_api.stripe_is_configured():
        raise PurchasesUnavailableError()
    package = CreditPackage.objects.filter(pk=package_id, is_active=True).first() if str(package_id).isdigit() else None
    if package is None:
        raise NotFoundError("That credit package is not on sale.")
    credits_stripe_webhook_endpoint_sync()
    purchase = Purchase.objects.create(
        user=user, package=package, credits=package.credits, amount_cents=package.price_cents,
        currency=package.currency.lower(),
    )
    # No transaction is held across the HTTP call.
    try:
        session = stripe_api.checkout_session_create(
            purchase=purchase, email=user.email, success_url=success_url, cancel_url=cancel_url,
        )
    except PaymentProviderError:
        Purchase.objects.filter(pk=purchase.pk).update(status=Purchase.Status.FAILED, updated_at=timezone.now())
        raise
    Purchase.objects.filter(pk=purchase.pk).update(stripe_checkout_session_id=session["id"], updated_at=timezone.now())
    purchase.stripe_checkout_session_id = session["id"]
    return purchase, session["url"]


def _purchase_for_session(session: dict) -> Purchase | None:
    purchase = Purchase.objects.filter(stripe_checkout_session_id=session["id"]).first()
    if purchase is None:
        logger.warning("checkout session for no known purchase", extra={"session": session["id"]})
    return purchase


def credits_purchase_grant(*, session: dict) -> LedgerEntry | None:
    """A completed Checkout Session (`checkout.session.completed` / `async_payment_succeeded`):
    grant the purchase's credits exactly once, whichever event or delivery comes first."""
    purchase = _purchase_for_session(session)
    if purchase is None:
        return None
    if session.get("payment_status") != "paid":
        return None  # e.g. a bank debit still on its way: async_payment_succeeded will follow
    return _purchase_fulfil(purchase=purchase, session=session)


def _purchase_fulfil(*, purchase: Purchase, session: dict) -> LedgerEntry | None:
    with transaction.atomic():
        account_lock(purchase.user)
        purchase = Purchase.objects.select_for_update().select_related("package").get(pk=purchase.pk)
        paid = (session.get("amount_total"), (session.get("currency") or "").lower())
        if paid != (purchase.amount_cents, purchase.currency):
            logger.error("checkout paid a different amount than the purchase",
                         extra={"purchase": str(purchase.pk), "paid": paid})
            _purchase_flag(purchase, f"Stripe reported {paid[0]} {paid[1]} paid; no credits were granted.")
            return None
        entry, created = entry_append(
            user=purchase.user, kind=LedgerEntry.Kind.PURCHASE, amount=purchase.credits,
            idempotency_key=f"stripe:checkout:{session['id']}:grant", purchase=purchase,
            memo=f"Bought {purchase.package.name} ({purchase.amount_display})",
        )
        if created:
            purchase.paid_at = timezone.now()
            purchase.stripe_payment_intent_id = session.get("payment_intent") or ""
            purchase.status = _purchase_status(purchase)
            purchase.save(update_fields=["paid_at", "stripe_payment_intent_id", "status", "updated_at"])
        return entry


def credits_purchase_close(*, session: dict, status: str) -> None:
    """An expired session or a failed bank payment: the purchase ends without credits."""
    purchase = _purchase_for_session(session)
    if purchase is None:
        return
    Purchase.objects.filter(pk=purchase.pk, status=Purchase.Status.PENDING).update(
        status=status, updated_at=timezone.now()
    )


def _purchase_flag(purchase: Purchase, note: str) -> None:
    purchase.needs_review = True
    purchase.review_note = note[:300]
    purchase.save(update_fields=["needs_review", "review_note", "updated_at"])


def _purchase_status(purchase: Purchase) -> str:
    if purchase.paid_at is None:
        return purchase.status
    active = [r for r in purchase.reversals.all() if r.is_active]
    reversed_cents = sum(r.amount_cents for r in active)
    if any(r.kind == PurchaseReversal.Kind.DISPUTE for r in active):
        return Purchase.Status.DISPUTED
    if reversed_cents >= purchase.amount_cents:
        return Purchase.Status.REFUNDED
    if reversed_cents:
        return Purchase.Status.PARTIALLY_REFUNDED
    return Purchase.Status.PAID


def _purchase_for_payment(*, payment_intent_id: str | None, charge_id: str | None) -> Purchase | None:
    """The purchase a refund or dispute is about, granted first if its own event has not arrived yet."""
    if not payment_intent_id and charge_id:
        payment_intent_id = stripe_api.charge_retrieve(charge_id).get("payment_intent")
    if not payment_intent_id:
        return None
    purchase = Purchase.objects.filter(stripe_payment_intent_id=payment_intent_id).first()
    if purchase is None:
        metadata = stripe_api.payment_intent_retrieve(payment_intent_id).get("metadata") or {}
        purchase = Purchase.objects.filter(pk=_uuid(metadata.get("darkroom_purchase"))).first()
    if purchase is None:
        logger.warning("refund or dispute for no known purchase", extra={"payment_intent": payment_intent_id})
        return None
    if purchase.paid_at is None and purchase.stripe_checkout_session_id:
        # Out of order: the refund came before checkout.session.completed. Grant from Stripe's
        # current view of the session, so the reversal below has something to take back.
        session = stripe_api.checkout_session_retrieve(purchase.stripe_checkout_session_id)
        if session.get("payment_status") == "paid":
            _purchase_fulfil(purchase=purchase, session=session)
            purchase.refresh_from_db()
    return purchase


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _reversal_apply(*, purchase: Purchase, kind: str, stripe_id: str, amount_cents: int) -> PurchaseReversal:
    """Take back what `amount_cents` of the purchase granted, once per refund or dispute.

    The balance never goes negative: if the user already spent the credits, we take what is left,
    and record the rest as the purchase's shortfall, flagged for staff.
    """
    with transaction.atomic():
        account = account_lock(purchase.user)
        purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
        existing = PurchaseReversal.objects.filter(stripe_id=stripe_id).first()
        if existing is not None:
            return existing
        granted = purchase.paid_at is not None
        earlier = sum(r.amount_cents for r in purchase.reversals.all() if r.is_active)
        total = purchase.amount_cents

        def share(cents: int) -> int:
            return purchase.credits * min(cents, total) // total

        due = share(earlier + amount_cents) - share(earlier) if granted else 0
        debit = min(due, account.balance)
        label = "Refund" if kind == PurchaseReversal.Kind.REFUND else "Dispute"
        memo = f"{label} of {purchase.amount_display} purchase"
        if debit < due:
            memo += f" ({due - debit} credits already spent)"
        entry, _ = entry_append(
            user=purchase.user,
            kind=LedgerEntry.Kind.REFUND if kind == PurchaseReversal.Kind.REFUND else LedgerEntry.Kind.DISPUTE,
            amount=-debit, idempotency_key=f"stripe:{kind}:{stripe_id}", purchase=purchase, memo=memo,
        )
        reversal = PurchaseReversal.objects.create(
            purchase=purchase, kind=kind, stripe_id=stripe_id, amount_cents=amount_cents, credits_due=due,
            credits_debited=debit, ledger_entry=entry,
        )
        if debit < due:
            purchase.credits_shortfall += due - debit
            purchase.needs_review = True
            purchase.review_note = (
                f"{label} {stripe_id}: {due - debit} of {due} credits could not be taken back; "
                "the user had already spent them."
            )[:300]
            logger.warning("purchase reversal short of credits", extra={
                "purchase": str(purchase.pk), "stripe_id": stripe_id, "due": due, "debited": debit,
            })
        purchase.status = _purchase_status(purchase)
        purchase.save(update_fields=["credits_shortfall", "needs_review", "review_note", "status", "updated_at"])
        return reversal


def _reversal_undo(*, stripe_id: str, why: str) -> PurchaseReversal | None:
    """A refund that failed or a dispute won: give back exactly what the reversal took."""
    reversal = PurchaseReversal.objects.filter(stripe_id=stripe_id).select_related("purchase").first()
    if reversal is None:
        return None
    with transaction.atomic():
        account_lock(reversal.purchase.user)
        purchase = Purchase.objects.select_for_update().get(pk=reversal.purchase_id)
        reversal = PurchaseReversal.objects.select_for_update().get(pk=reversal.pk)
        if reversal.undone_entry_id is not None:
            return reversal
        entry, _ = entry_append(
            user=purchase.user, kind=LedgerEntry.Kind.REINSTATE, amount=reversal.credits_debited,
            idempotency_key=f"stripe:{reversal.kind}:{stripe_id}:undo", purchase=purchase,
            memo=f"Returned: {why}",
        )
        reversal.undone_entry = entry
        reversal.save(update_fields=["undone_entry", "updated_at"])
        purchase.credits_shortfall = max(0, purchase.credits_shortfall - reversal.shortfall)
        purchase.status = _purchase_status(purchase)
        purchase.save(update_fields=["credits_shortfall", "status", "updated_at"])
        return reversal


def credits_refund_apply(*, refund_id: str) -> PurchaseReversal | None:
    """Any refund event: act on the refund as Stripe sees it now, so order and replays don't matter."""
    refund = stripe_api.refund_retrieve(refund_id)
    if refund["status"] in REFUND_UNDONE:
        return _reversal_undo(stripe_id=refund["id"], why=f"the refund {refund['status']}")
    if refund["status"] not in REFUND_TAKEN:
        return None
    purchase = _purchase_for_payment(payment_intent_id=refund.get("payment_intent"), charge_id=refund.get("charge"))
    if purchase is None:
        return None
    return _reversal_apply(
        purchase=purchase, kind=PurchaseReversal.Kind.REFUND, stripe_id=refund["id"], amount_cents=refund["amount"]
    )


def credits_charge_refunds_apply(*, charge_id: str) -> list[PurchaseReversal]:
    """`charge.refunded`: apply each of the charge's refunds (each once, by its own id)."""
    applied = []
    for refund in stripe_api.refunds_for_charge(charge_id):
        if reversal := credits_refund_apply(refund_id=refund["id"]):
            applied.append(reversal)
    return applied


def credits_dispute_apply(*, dispute_id: str) -> PurchaseReversal | None:
    """Any dispute event: funds withdrawn take the credits back, a won dispute returns them."""
    dispute = stripe_api.dispute_retrieve(dispute_id)
    if dispute["status"] in DISPUTE_UNDONE:
        return _reversal_undo(stripe_id=dispute["id"], why="the dispute was closed in our favour")
    if dispute["status"] not in DISPUTE_TAKEN:
        return None  # an inquiry (warning_*): no money has moved yet
    purchase = _purchase_for_payment(payment_intent_id=dispute.get("payment_intent"), charge_id=dispute.get("charge"))
    if purchase is None:
        return None
    return _reversal_apply(
        purchase=purchase, kind=PurchaseReversal.Kind.DISPUTE, stripe_id=dispute["id"],
        amount_cents=dispute["amount"],
    )


def credits_purchase_refund_request(*, purchase: Purchase, actor) -> dict:
    """Staff: ask Stripe to refund a purchase in full. The credits move when Stripe's webhook says so."""
    if actor is None or not actor.is_staff:
        raise AdjustmentError("Only staff can refund purchases.", code="forbidden")
    if not purchase.stripe_payment_intent_id:
        raise AdjustmentError("This purchase has no payment to refund.", code="not_refundable")
    refund = stripe_api.refund_create(
        payment_intent_id=purchase.stripe_payment_intent_id, idempotency_key=f"darkroom-refund-{purchase.pk}"
    )
    staff_action_record(actor=actor, action="purchase.refund_requested", target=purchase,
                        changes={"refund": [None, refund.get("id")], "status": [None, refund.get("status")],
                                 "amount_cents": [None, purchase.amount_cents]})
    return refund


# Fields of a credit package that staff set in the admin (audited on every change).
PACKAGE_FIELDS = ("name", "credits", "price_cents", "currency", "is_active", "stripe_price_id", "sort_order")


@transaction.atomic
def credits_package_save(*, package: CreditPackage, actor) -> CreditPackage:
    """Create or change a credit package as staff edited it, with an audit record of what changed."""
    stored = CreditPackage.objects.select_for_update().filter(pk=package.pk).first() if package.pk else None
    before = {field: getattr(stored, field) for field in PACKAGE_FIELDS} if stored else {}
    package.save()
    after = {field: getattr(package, field) for field in PACKAGE_FIELDS}
    if changes := field_changes(before, after):
        staff_action_record(actor=actor, action="credit_package.update" if stored else "credit_package.create",
                            target=package, changes=changes)
    return package

