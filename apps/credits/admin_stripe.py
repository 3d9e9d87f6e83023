"""dj-stripe registers about forty models in the admin; staff need the few that explain a payment.
The rest are unregistered (their rows stay, synced as before); what is left sits under one
"Stripe records" section, read-only as dj-stripe makes it."""

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered

# Kept: who paid (Customer), what was paid (Session, PaymentIntent, Charge), what was taken back
# (Refund, Dispute), what Stripe told us (Event, WebhookEventTrigger) and where (WebhookEndpoint).
KEPT = {"Customer", "Session", "PaymentIntent", "Charge", "Refund", "Dispute", "Event", "WebhookEventTrigger",
        "WebhookEndpoint"}


def stripe_admin_trim(site: admin.AdminSite = admin.site) -> list[str]:
    """Unregister the dj-stripe models staff never need; returns their names."""
    removed = []
    for model in list(site._registry):
        if model._meta.app_label == "djstripe" and model.__name__ not in KEPT:
            try:
                site.unregister(model)
            except NotRegistered:
                continue
            removed.append(model.__name__)
    return sorted(removed)


stripe_admin_trim()
