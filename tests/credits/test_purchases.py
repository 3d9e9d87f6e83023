"""Buying credits: Checkout against the Stripe fake over real HTTP, and Stripe's signed webhooks
through dj-stripe's real webhook view (signature check, Event dedup, our receivers)."""

import time

import pytest
from djstripe.models import Event, WebhookEventTrigger

from apps.credits import services
from apps.credits.exceptions import PaymentProviderError, PurchasesUnavailableError
from apps.credits.models import LedgerEntry, Purchase, PurchaseReversal
from apps.credits.selectors import credits_balance_get, credits_ledger_balance
from tests.accounts.factories import UserFactory

SUCCESS = "http://testserver/credits/checkout/done/?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/credits/?checkout=canceled"
OK = 200


def buy(user, package):
    return services.credits_checkout_start(user=user, package_id=package.pk, success_url=SUCCESS, cancel_url=CANCEL)


def bought(user, package, stripe) -> Purchase:
    """A purchase paid at the fake and its webhooks delivered."""
    purchase, url = buy(user, package)
    stripe.pay(url)
    assert [status for _, status in stripe.deliver()] == [OK, OK, OK]
    purchase.refresh_from_db()
    return purchase


def ledger(user) -> list[tuple[str, int]]:
    return list(LedgerEntry.objects.filter(user=user).order_by("id").values_list("kind", "amount"))


def balance(user) -> int:
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user)
    return credits_balance_get(user=user)


def test_checkout_opens_a_stripe_session_over_http(user, package, stripe):
    purchase, url = buy(user, package)

    session = stripe.fake.objects[purchase.stripe_checkout_session_id]
    assert url == f"{stripe.server.url}/checkout/{session['id']}" == session["url"]
    assert (session["mode"], session["amount_total"], session["currency"]) == ("payment", 500, "usd")
    assert session["client_reference_id"] == str(purchase.pk)
    assert session["metadata"] == {"darkroom_purchase": str(purchase.pk), "darkroom_user": str(user.pk)}
    assert session["_payment_intent_data"]["metadata"] == session["metadata"]
    assert session["customer_email"] == user.email
    assert (session["success_url"], session["cancel_url"]) == (SUCCESS, CANCEL)
    assert session["_line_items"][0]["description"] == "Starter — 500 Darkroom credits"
    assert stripe.fake.requests == [("POST", "/v1/checkout/sessions")]
    assert f"darkroom-checkout-{purchase.pk}" in stripe.fake.idempotent
    assert (purchase.status, purchase.credits, purchase.amount_cents, purchase.currency) == ("pending", 500, 500, "usd")
    assert balance(user) == 100


def test_a_wrong_key_is_refused_by_the_fake_as_stripe_would(user, package, stripe, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_SomeoneElsesKey0123456789abcdef"
    with pytest.raises(PaymentProviderError) as raised:
        buy(user, package)
    assert raised.value.http_status == 502
    assert raised.value.message == "The payment service could not be reached. Please try again in a minute."
    purchase = Purchase.objects.get()
    assert (purchase.status, purchase.stripe_checkout_session_id) == ("failed", None)


def test_paying_grants_the_package_once_through_djstripe(user, package, stripe):
    purchase = bought(user, package, stripe)

    assert balance(user) == 600
    assert ledger(user) == [("grant", 100), ("purchase", 500)]
    entry = LedgerEntry.objects.get(kind="purchase")
    assert (entry.purchase_id, entry.memo) == (purchase.pk, "Bought Starter ($5.00)")
    assert entry.idempotency_key == f"stripe:checkout:{purchase.stripe_checkout_session_id}:grant"
    assert purchase.status == "paid" and purchase.paid_at is not None
    assert purchase.stripe_payment_intent_id == stripe.event("payment_intent.succeeded")["data"]["object"]["id"]
    # Auditable: every delivery is kept by dj-stripe, verified and processed.
    assert sorted(Event.objects.values_list("type", flat=True)) == [
        "charge.succeeded", "checkout.session.completed", "payment_intent.succeeded",
    ]
    assert list(WebhookEventTrigger.objects.values_list("valid", "processed", "exception")) == [(True, True, "")] * 3


def test_replaying_the_webhook_ten_times_leaves_the_balance_unchanged(user, package, stripe):
    bought(user, package, stripe)
    completed = stripe.event("checkout.session.completed")

    for _ in range(10):
        assert stripe.post(stripe.fake.signed(completed)).status_code == OK

    assert balance(user) == 600
    assert ledger(user) == [("grant", 100), ("purchase", 500)]
    assert Event.objects.filter(type="checkout.session.completed").count() == 1
    assert WebhookEventTrigger.objects.filter(valid=True).count() == 13


def test_another_event_for_the_same_checkout_grants_nothing_more(user, package, stripe):
    bought(user, package, stripe)
    session = stripe.fake.objects[Purchase.objects.get().stripe_checkout_session_id]
    # A second, different event about the same paid session (as a delayed bank payment sends).
    stripe.fake.send([stripe.fake.event("checkout.session.async_payment_succeeded", session)])
    assert stripe.deliver() == [("checkout.session.async_payment_succeeded", OK)]
    assert balance(user) == 600
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1


def test_an_unpaid_completed_session_waits_for_the_async_payment(user, package, stripe):
    purchase, url = buy(user, package)
    stripe.pay(url)
    stripe.fake.take_outbox()
    session = stripe.fake.objects[purchase.stripe_checkout_session_id]
    session["payment_status"] = "unpaid"
    stripe.fake.send([stripe.fake.event("checkout.session.completed", session)])
    session["payment_status"] = "paid"
    stripe.fake.send([stripe.fake.event("checkout.session.async_payment_succeeded", session)])

    assert stripe.deliver() == [("checkout.session.completed", OK), ("checkout.session.async_payment_succeeded", OK)]
    assert ledger(user) == [("grant", 100), ("purchase", 500)]


def test_deliveries_in_any_order_grant_once(user, package, stripe):
    _, url = buy(user, package)
    stripe.pay(url)
    deliveries = stripe.fake.take_outbox()
    for delivery in reversed(deliveries):  # completed first, then payment_intent, then charge
        assert stripe.post(delivery).status_code == OK
    for delivery in deliveries:  # and Stripe's retries of all three
        assert stripe.post(delivery).status_code == OK
    assert balance(user) == 600
    assert ledger(user) == [("grant", 100), ("purchase", 500)]


@pytest.mark.parametrize("problem", ["wrong secret", "tampered body", "stale timestamp", "no signature"])
def test_a_bad_signature_is_refused_and_changes_nothing(user, package, stripe, problem):
    _, url = buy(user, package)
    stripe.pay(url)
    stripe.fake.take_outbox()
    completed = stripe.event("checkout.session.completed")
    if problem == "wrong secret":
        delivery = stripe.fake.signed(completed, secret="whsec_c29tZW9uZS1lbHNlcy1zZWNyZXQ")
    elif problem == "stale timestamp":
        delivery = stripe.fake.signed(completed, timestamp=int(time.time()) - 301)
    else:
        delivery = stripe.fake.signed(completed)
    if problem == "tampered body":
        delivery.payload = delivery.payload.replace('"amount_total": 500', '"amount_total": 5')
    if problem == "no signature":
        response = stripe.client.post(stripe.webhook_path, delivery.payload, content_type="application/json")
    else:
        response = stripe.post(delivery)

    assert response.status_code == 400
    assert balance(user) == 100
    assert ledger(user) == [("grant", 100)]
    assert Event.objects.count() == 0
    assert not WebhookEventTrigger.objects.filter(valid=True).exists()
    assert Purchase.objects.get().status == "pending"


def test_a_refund_takes_the_credits_back_once(user, package, stripe, admin_user):
    purchase = bought(user, package, stripe)
    refund = services.credits_purchase_refund_request(purchase=purchase, actor=admin_user)
    assert (refund["amount"], refund["status"]) == (500, "succeeded")

    assert stripe.deliver() == [("refund.created", OK), ("charge.refunded", OK)]
    for event_type in ("refund.created", "charge.refunded"):  # replays
        assert stripe.post(stripe.fake.signed(stripe.event(event_type))).status_code == OK

    assert balance(user) == 100
    assert ledger(user) == [("grant", 100), ("purchase", 500), ("refund", -500)]
    purchase.refresh_from_db()
    assert (purchase.status, purchase.credits_shortfall, purchase.needs_review) == ("refunded", 0, False)
    reversal = PurchaseReversal.objects.get()
    assert (reversal.kind, reversal.stripe_id, reversal.amount_cents) == ("refund", refund["id"], 500)
    assert (reversal.credits_due, reversal.credits_debited) == (500, 500)
    assert reversal.ledger_entry.purchase_id == purchase.pk


def test_partial_refunds_each_take_back_their_share(user, package, stripe):
    purchase = bought(user, package, stripe)
    stripe.fake.refund_create({"payment_intent": purchase.stripe_payment_intent_id, "amount": "150"})
    stripe.fake.refund_create({"payment_intent": purchase.stripe_payment_intent_id, "amount": "350"})
    stripe.deliver()

    assert ledger(user) == [("grant", 100), ("purchase", 500), ("refund", -150), ("refund", -350)]
    purchase.refresh_from_db()
    assert purchase.status == "refunded"


def test_a_refund_after_the_credits_were_spent_takes_what_is_left_and_flags_the_rest(
    user, package, stripe, admin_user
):
    purchase = bought(user, package, stripe)
    services.credits_adjust(user=user, amount=-550, reason="stands in for spending", actor=admin_user)
    services.credits_purchase_refund_request(purchase=purchase, actor=admin_user)
    stripe.deliver()

    assert balance(user) == 0  # never negative
    assert ledger(user) == [("grant", 100), ("purchase", 500), ("adjustment", -550), ("refund", -50)]
    purchase.refresh_from_db()
    assert (purchase.status, purchase.credits_shortfall, purchase.needs_review) == ("refunded", 450, True)
    assert "450 of 500 credits could not be taken back" in purchase.review_note
    assert LedgerEntry.objects.get(kind="refund").memo == "Refund of $5.00 purchase (450 credits already spent)"


def test_a_refund_arriving_before_the_checkout_event_still_nets_to_zero(user, package, stripe):
    purchase, url = buy(user, package)
    stripe.pay(url)
    paid = stripe.fake.take_outbox()
    stripe.fake.refund_create({"payment_intent": stripe.event("payment_intent.succeeded")["data"]["object"]["id"]})
    refunded = stripe.fake.take_outbox()

    for delivery in refunded + paid:
        assert stripe.post(delivery).status_code == OK

    assert ledger(user) == [("grant", 100), ("purchase", 500), ("refund", -500)]
    purchase.refresh_from_db()
    assert purchase.status == "refunded"


def test_a_failed_refund_gives_the_credits_back(user, package, stripe):
    purchase = bought(user, package, stripe)
    refund = stripe.fake.refund_create({"payment_intent": purchase.stripe_payment_intent_id, "_status": "pending"})
    stripe.deliver()
    assert balance(user) == 100
    stripe.fake.refund_set_status(refund["id"], "failed")
    assert stripe.deliver() == [("refund.failed", OK), ("charge.refund.updated", OK)]

    assert balance(user) == 600
    assert ledger(user) == [("grant", 100), ("purchase", 500), ("refund", -500), ("reinstate", 500)]
    purchase.refresh_from_db()
    assert purchase.status == "paid"


def test_a_dispute_takes_the_credits_back_and_a_won_dispute_returns_them(user, package, stripe):
    purchase = bought(user, package, stripe)
    charge_id = stripe.event("charge.succeeded")["data"]["object"]["id"]
    dispute = stripe.fake.dispute_open(charge_id)
    assert stripe.deliver() == [("charge.dispute.created", OK), ("charge.dispute.funds_withdrawn", OK)]
    assert balance(user) == 100
    purchase.refresh_from_db()
    assert purchase.status == "disputed"

    stripe.fake.dispute_close(dispute["id"], status="won")
    assert stripe.deliver() == [("charge.dispute.closed", OK), ("charge.dispute.funds_reinstated", OK)]
    assert balance(user) == 600
    assert ledger(user) == [("grant", 100), ("purchase", 500), ("dispute", -500), ("reinstate", 500)]
    purchase.refresh_from_db()
    assert purchase.status == "paid"


def test_a_lost_dispute_keeps_the_credits_taken(user, package, stripe):
    purchase = bought(user, package, stripe)
    dispute = stripe.fake.dispute_open(stripe.event("charge.succeeded")["data"]["object"]["id"])
    stripe.fake.dispute_close(dispute["id"], status="lost")
    stripe.deliver()
    assert ledger(user) == [("grant", 100), ("purchase", 500), ("dispute", -500)]
    purchase.refresh_from_db()
    assert purchase.status == "disputed"


def test_an_expired_checkout_ends_the_purchase_without_credits(user, package, stripe):
    purchase, _ = buy(user, package)
    stripe.fake.checkout_expire(purchase.stripe_checkout_session_id)
    assert stripe.deliver() == [("checkout.session.expired", OK)]
    purchase.refresh_from_db()
    assert purchase.status == "expired"
    assert balance(user) == 100


def test_purchases_are_unavailable_without_a_stripe_key(user, package, settings):
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(PurchasesUnavailableError):
        buy(user, package)
    assert Purchase.objects.count() == 0


def test_packages_sell_at_the_price_they_had_when_checkout_started(user, package, stripe):
    _, url = buy(user, package)
    package.credits, package.price_cents = 9999, 1
    package.save()
    stripe.pay(url)
    stripe.deliver()
    assert ledger(user) == [("grant", 100), ("purchase", 500)]


def test_two_users_purchases_stay_apart(user, package, stripe):
    other = UserFactory()
    bought(user, package, stripe)
    bought(other, package, stripe)
    assert (balance(user), balance(other)) == (600, 600)
    assert set(Purchase.objects.values_list("user_id", flat=True)) == {user.pk, other.pk}
