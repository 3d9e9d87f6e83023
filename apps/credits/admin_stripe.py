"""dj-stripe registers about forty models in the admin; staff need the few that explain a payment.
The rest are unregistered (their rows stay, synced as before); what is left sits under one
"Stripe records" section, where they are looked at (and re-synced), never added or deleted."""

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered

# Kept: who paid (Customer), what was paid (Session, PaymentIntent, Charge), what was taken back
# (Refund, Dispute), what Stripe told us (Event, WebhookEventTrigger) and where (WebhookEndpoint).
KEPT = {"Customer", "Session", "PaymentIntent", "Charge", "Refund", "Dispute", "Event", "WebhookEventTrigger",
        "WebhookEndpoint"}


class NoAddOrDelete:
    """Stripe is where these records are made and removed; here they are looked at (and re-synced)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def stripe_admin_trim(site: admin.AdminSite = admin.site) -> list[str]:
    """Unregister the dj-stripe models staff never need, and let no one add or delete the rest here;
    returns the names unregistered."""
    removed = []
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != "djstripe":
            continue
        try:
            site.unregister(model)
        except NotRegistered:
            continue
        if model.__name__ in KEPT:
            site.register(model, type(type(model_admin).__name__, (NoAddOrDelete, type(model_admin)), {}))
        else:
            removed.append(model.__name__)
    return sorted(removed)


stripe_admin_trim()
