"""The fake's state and behaviour, without HTTP: objects shaped like Stripe's, and signed events.

Only what Darkroom's purchase flow touches is modelled: Checkout Sessions in payment mode, the
PaymentIntent, PaymentMethod and Charge a payment makes, refunds, disputes, events and the account.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

API_VERSION = "2026-05-27.dahlia"
ACCOUNT_ID = "acct_1DarkroomFake0001"


class FakeStripeError(Exception):
    """Rendered as Stripe's error body: {"error": {"type", "code", "message", "param"}}."""

    def __init__(self, status: int, message: str, *, code: str = "", type_: str = "invalid_request_error",
                 param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.type, self.param = status, message, code, type_, param

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(kind: str, object_id: str) -> FakeStripeError:
    return FakeStripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id")


def stripe_signature(payload: str, secret: str, *, timestamp: int | None = None) -> str:
    """Stripe's scheme: `t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Delivery:
    event_id: str
    event_type: str
    payload: str
    headers: dict
    status: int | None = None
    error: str = ""


@dataclass
class FakeStripe:
    """In-memory Stripe. `webhook_url` + `webhook_secret` make it deliver signed events over HTTP
    (from a background thread, as Stripe does); without a URL, signed deliveries wait in `outbox`
    for the caller (tests post them themselves)."""

    secret_key: str | None = None
    webhook_url: str | None = None
    webhook_secret: str = ""
    base_url: str = "http://127.0.0.1"
    deliver_async: bool = True
    objects: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    outbox: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    idempotent: dict = field(default_factory=dict)
    on_delivery: Callable[[Delivery], None] | None = None

    def __post_init__(self):
        self.lock = threading.RLock()

    # ------------------------------------------------------------ helpers

    @staticmethod
    def new_id(prefix: str) -> str:
        return f"{prefix}_test_{secrets.token_urlsafe(18).replace('-', 'a').replace('_', 'b')}"

    def get(self, object_id: str, kind: str) -> dict:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise missing(kind, object_id)
        return obj

    def check_auth(self, authorization: str | None) -> None:
        token = (authorization or "").removeprefix("Bearer ").strip()
        if not token.startswith(("sk_", "rk_")) or (self.secret_key and token != self.secret_key):
            raise FakeStripeError(401, "Invalid API Key provided.", type_="invalid_request_error",
                                  code="api_key_invalid")

    # ------------------------------------------------------------ account

    def account(self) -> dict:
        return {
            "id": ACCOUNT_ID, "object": "account", "type": "standard", "country": "US", "default_currency": "usd",
            "email": "payments@darkroom.invalid", "charges_enabled": True, "payouts_enabled": True,
            "details_submitted": True, "created": 1700000000, "metadata": {},
            "business_profile": {"name": "Darkroom (fake Stripe)", "url": None, "support_email": None},
            "business_type": None, "capabilities": {}, "requirements": {}, "future_requirements": {},
            "settings": {"dashboard": {"display_name": "Darkroom fake", "timezone": "Etc/UTC"},
                         "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
                         "payments": {"statement_descriptor": "DARKROOM"}},
            "tos_acceptance": {}, "external_accounts": {"object": "list", "data": [], "has_more": False,
                                                        "url": f"/v1/accounts/{ACCOUNT_ID}/external_accounts"},
        }

    # ------------------------------------------------------------ checkout

    def checkout_session_create(self, params: dict) -> dict:
        if params.get("mode") != "payment":
            raise FakeStripeError(400, "This fake only supports mode=payment.", param="mode")
        for name in ("success_url", "cancel_url"):
            if not params.get(name):
                raise FakeStripeError(400, f"Missing required param: {name}.", param=name)
        items = params.get("line_items") or []
        if not items:
            raise FakeStripeError(400, "Missing required param: line_items.", param="line_items")
        line_items, total, currency = [], 0, None
        for index, item in enumerate(items):
            quantity = int(item.get("quantity", 1))
            if "price_data" in item:
                data = item["price_data"]
                unit, currency = int(data["unit_amount"]), data["currency"].lower()
                name = (data.get("product_data") or {}).get("name", "Item")
                price = {"id": self.new_id("price"), "object": "price", "unit_amount": unit, "currency": currency,
                         "type": "one_time", "active": False, "product": self.new_id("prod"), "metadata": {}}
            elif "price" in item:
                price = self.objects.get(item["price"])
                if price is None:
                    raise missing("price", item["price"])
                unit, currency, name = price["unit_amount"], price["currency"], price.get("nickname") or "Item"
            else:
                raise FakeStripeError(400, "Each line item needs price or price_data.", param=f"line_items[{index}]")
            total += unit * quantity
            line_items.append({
                "id": self.new_id("li"), "object": "item", "amount_subtotal": unit * quantity,
                "amount_total": unit * quantity, "amount_discount": 0, "amount_tax": 0, "currency": currency,
                "description": name, "quantity": quantity, "price": price,
            })
        session_id = self.new_id("cs")
        session = {
            "id": session_id, "object": "checkout.session", "mode": "payment", "status": "open",
            "payment_status": "unpaid", "amount_subtotal": total, "amount_total": total, "currency": currency,
            "client_reference_id": params.get("client_reference_id"), "customer": None,
            "customer_email": params.get("customer_email"), "customer_creation": "if_required",
            "customer_details": None, "metadata": params.get("metadata") or {}, "livemode": False,
            "created": int(time.time()), "expires_at": int(time.time()) + 86400, "locale": None,
            "payment_intent": None, "setup_intent": None, "subscription": None, "invoice": None,
            "payment_method_types": ["card"], "success_url": params["success_url"],
            "cancel_url": params["cancel_url"], "url": f"{self.base_url}/checkout/{session_id}",
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "_line_items": line_items,
            "_payment_intent_data": params.get("payment_intent_data") or {},
        }
        self.objects[session_id] = session
        return self.render(session)

    def render(self, obj: dict, expand: list[str] = ()) -> dict:
        """The public shape: private `_` fields dropped, `line_items` only when expanded."""
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        if obj["object"] == "checkout.session" and "line_items" in expand:
            out["line_items"] = self.line_items(obj)
        if obj["object"] == "checkout.session" and "total_details.breakdown" in expand:
            out["total_details"]["breakdown"] = {"discounts": [], "taxes": []}
        return out

    def line_items(self, session: dict) -> dict:
        return {"object": "list", "data": copy.deepcopy(session["_line_items"]), "has_more": False,
                "url": f"/v1/checkout/sessions/{session['id']}/line_items"}

    def checkout_pay(self, session_id: str) -> str:
        """The buyer pays: PaymentIntent, PaymentMethod and Charge appear, the session completes, and
        `charge.succeeded`, `payment_intent.succeeded` and `checkout.session.completed` go out.
        Returns the success URL the buyer is sent back to."""
        with self.lock:
            session = self.get(session_id, "checkout.session")
            if session["status"] != "open":
                raise FakeStripeError(400, f"This Checkout Session is {session['status']}.")
            now = int(time.time())
            metadata = dict(session["_payment_intent_data"].get("metadata") or {})
            method = {
                "id": self.new_id("pm"), "object": "payment_method", "type": "card", "customer": None,
                "created": now, "livemode": False, "metadata": {},
                "billing_details": {"email": session["customer_email"], "name": "Test Buyer", "phone": None,
                                    "address": None},
                "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "country": "US",
                         "funding": "credit", "fingerprint": "DarkroomFakeCard"},
            }
            intent_id, charge_id = self.new_id("pi"), self.new_id("ch")
            intent = {
                "id": intent_id, "object": "payment_intent", "amount": session["amount_total"],
                "amount_received": session["amount_total"], "amount_capturable": 0,
                "currency": session["currency"], "status": "succeeded", "metadata": metadata, "customer": None,
                "payment_method": method["id"], "payment_method_types": ["card"], "latest_charge": charge_id,
                "capture_method": "automatic", "confirmation_method": "automatic", "created": now,
                "livemode": False, "description": None, "receipt_email": session["customer_email"],
                "on_behalf_of": None, "invoice": None, "application": None, "application_fee_amount": None,
                "canceled_at": None, "cancellation_reason": None, "last_payment_error": None, "next_action": None,
                "setup_future_usage": None, "shipping": None, "statement_descriptor": None,
                "statement_descriptor_suffix": None, "transfer_data": None, "transfer_group": None,
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            }
            charge = {
                "id": charge_id, "object": "charge", "amount": session["amount_total"],
                "amount_captured": session["amount_total"], "amount_refunded": 0, "captured": True,
                "currency": session["currency"], "paid": True, "refunded": False, "disputed": False,
                "status": "succeeded", "payment_intent": intent_id, "payment_method": method["id"],
                "customer": None, "invoice": None, "balance_transaction": None, "metadata": metadata,
                "created": now, "livemode": False, "description": None, "failure_code": None,
                "failure_message": None, "on_behalf_of": None, "application_fee": None, "transfer": None,
                "source": None, "source_transfer": None, "statement_descriptor": None, "transfer_group": None,
                "calculated_statement_descriptor": "DARKROOM", "receipt_email": session["customer_email"],
                "receipt_url": f"{self.base_url}/receipts/{charge_id}", "dispute": None, "fraud_details": {},
                "billing_details": method["billing_details"],
                "outcome": {"network_status": "approved_by_network", "type": "authorized", "risk_level": "normal",
                            "seller_message": "Payment complete."},
                "payment_method_details": {"type": "card", "card": method["card"]},
                "refunds": {"object": "list", "data": [], "has_more": False,
                            "url": f"/v1/charges/{charge_id}/refunds"},
            }
            session.update(
                status="complete", payment_status="paid", payment_intent=intent_id,
                customer_details={"email": session["customer_email"], "name": "Test Buyer", "address": None,
                                  "phone": None, "tax_exempt": "none", "tax_ids": []},
            )
            for obj in (method, intent, charge):
                self.objects[obj["id"]] = obj
            events = [self.event("charge.succeeded", charge), self.event("payment_intent.succeeded", intent),
                      self.event("checkout.session.completed", session)]
        self.send(events)
        return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)

    def checkout_expire(self, session_id: str) -> dict:
        with self.lock:
            session = self.get(session_id, "checkout.session")
            if session["status"] != "open":
                raise FakeStripeError(400, f"Only an open Checkout Session can be expired; this one is {session['status']}.")
            session["status"] = "expired"
            events = [self.event("checkout.session.expired", session)]
        self.send(events)
        return self.render(session)

    # ------------------------------------------------------------ refunds and disputes

    def charge_for(self, params: dict) -> dict:
        if params.get("charge"):
            return self.get(params["charge"], "charge")
        if params.get("payment_intent"):
            intent = self.get(params["payment_intent"], "payment_intent")
            return self.get(intent["latest_charge"], "charge")
        raise FakeStripeError(400, "One of charge or payment_intent is required.", param="charge")

    def refund_create(self, params: dict) -> dict:
        with self.lock:
            charge = self.charge_for(params)
            remaining = charge["amount"] - charge["amount_refunded"]
            amount = int(params.get("amount") or remaining)
            if charge["disputed"]:
                raise FakeStripeError(400, f"Charge {charge['id']} has been disputed; it can't be refunded.",
                                      code="charge_disputed")
            if amount <= 0 or amount > remaining:
                raise FakeStripeError(400, f"Refund amount ({amount}) is greater than unrefunded amount ({remaining}).",
                                      code="amount_too_large", param="amount")
            status = params.get("_status", "succeeded")
            refund = {
                "id": self.new_id("re"), "object": "refund", "amount": amount, "charge": charge["id"],
                "payment_intent": charge["payment_intent"], "currency": charge["currency"], "status": status,
                "reason": params.get("reason"), "metadata": params.get("metadata") or {},
                "created": int(time.time()), "balance_transaction": None, "receipt_number": None,
                "source_transfer_reversal": None, "transfer_reversal": None, "failure_reason": None,
                "destination_details": {"type": "card", "card": {"type": "refund"}},
            }
            self.objects[refund["id"]] = refund
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            charge["refunds"]["data"].insert(0, refund)
            events = [self.event("refund.created", refund), self.event("charge.refunded", charge)]
        self.send(events)
        return self.render(refund)

    def refund_set_status(self, refund_id: str, status: str) -> dict:
        with self.lock:
            refund = self.get(refund_id, "refund")
            refund["status"] = status
            if status in ("failed", "canceled"):
                charge = self.get(refund["charge"], "charge")
                charge["amount_refunded"] -= refund["amount"]
                charge["refunded"] = False
                refund["failure_reason"] = "expired_or_canceled_card" if status == "failed" else None
            event_type = "refund.failed" if status == "failed" else "refund.updated"
            events = [self.event(event_type, refund), self.event("charge.refund.updated", refund)]
        self.send(events)
        return self.render(refund)

    def refunds(self, params: dict) -> list[dict]:
        found = [o for o in self.objects.values() if o["object"] == "refund"]
        if params.get("charge"):
            found = [r for r in found if r["charge"] == params["charge"]]
        if params.get("payment_intent"):
            found = [r for r in found if r["payment_intent"] == params["payment_intent"]]
        return sorted(found, key=lambda r: r["created"], reverse=True)

    def dispute_open(self, charge_id: str, *, amount: int | None = None, reason: str = "fraudulent") -> dict:
        with self.lock:
            charge = self.get(charge_id, "charge")
            dispute = {
                "id": self.new_id("dp"), "object": "dispute", "amount": int(amount or charge["amount"]),
                "charge": charge["id"], "payment_intent": charge["payment_intent"], "currency": charge["currency"],
                "status": "needs_response", "reason": reason, "created": int(time.time()), "livemode": False,
                "metadata": {}, "evidence": {}, "balance_transactions": [], "is_charge_refundable": False,
                "evidence_details": {"due_by": int(time.time()) + 7 * 86400, "has_evidence": False,
                                     "past_due": False, "submission_count": 0},
            }
            self.objects[dispute["id"]] = dispute
            charge["disputed"], charge["dispute"] = True, dispute["id"]
            events = [self.event("charge.dispute.created", dispute),
                      self.event("charge.dispute.funds_withdrawn", dispute)]
        self.send(events)
        return self.render(dispute)

    def dispute_close(self, dispute_id: str, *, status: str) -> dict:
        if status not in ("won", "lost"):
            raise FakeStripeError(400, "status must be won or lost.", param="status")
        with self.lock:
            dispute = self.get(dispute_id, "dispute")
            dispute["status"] = status
            events = [self.event("charge.dispute.closed", dispute)]
            if status == "won":
                events.append(self.event("charge.dispute.funds_reinstated", dispute))
        self.send(events)
        return self.render(dispute)

    # ------------------------------------------------------------ events and webhooks

    def event(self, event_type: str, obj: dict) -> dict:
        event = {
            "id": self.new_id("evt"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
            "data": {"object": self.render(obj)}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": event_type,
        }
        self.events.append(event)
        return event

    def signed(self, event: dict, *, timestamp: int | None = None, secret: str | None = None) -> Delivery:
        payload = json.dumps(event)
        signature = stripe_signature(payload, secret if secret is not None else self.webhook_secret, timestamp=timestamp)
        return Delivery(event_id=event["id"], event_type=event["type"], payload=payload,
                        headers={"Content-Type": "application/json", "Stripe-Signature": signature})

    def send(self, events: list[dict]) -> None:
        deliveries = [self.signed(event) for event in events]
        if not self.webhook_url:
            self.outbox.extend(deliveries)
            return
        if self.deliver_async:
            threading.Thread(target=self._post_all, args=(deliveries,), daemon=True, name="stripe-fake-webhooks").start()
        else:
            self._post_all(deliveries)

    def resend(self, event_id: str) -> Delivery:
        event = next((e for e in self.events if e["id"] == event_id), None)
        if event is None:
            raise missing("event", event_id)
        self.send([event])
        return self.deliveries[-1] if self.webhook_url and not self.deliver_async else self.signed(event)

    def _post_all(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            request = urllib.request.Request(self.webhook_url, data=delivery.payload.encode(), method="POST",
                                             headers=delivery.headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    delivery.status = response.status
            except urllib.error.HTTPError as error:
                delivery.status, delivery.error = error.code, error.read()[:500].decode(errors="replace")
            except OSError as error:
                delivery.error = str(error)
            with self.lock:
                self.deliveries.append(delivery)
            logger.info("stripe fake delivered %s %s → %s", delivery.event_type, delivery.event_id,
                        delivery.status or delivery.error)
            if self.on_delivery:
                self.on_delivery(delivery)

    def take_outbox(self) -> list[Delivery]:
        with self.lock:
            taken, self.outbox = self.outbox, []
        return taken
