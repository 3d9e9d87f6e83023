"""Every credit movement is one ledger row with a unique key, written with the account row locked.

Money in: sign-up and daily grants, Stripe purchases, staff adjustments. Money out: holds for
generations and workflow runs (captured on success, released otherwise), and refunds or disputes
of a purchase. Limits on submissions are checked with the same account lock.

The names below are the credits app's service API; the modules hold them by concern.
"""

from .grants import credits_adjust, credits_daily_grant, credits_daily_refresh, credits_grant_signup
from .holds import credits_capture, credits_refund_charge, credits_release, credits_reserve
from .limits import credits_limits_check
from .purchases import (
    credits_charge_refunds_apply,
    credits_checkout_start,
    credits_dispute_apply,
    credits_package_save,
    credits_purchase_close,
    credits_purchase_grant,
    credits_purchase_refund_request,
    credits_refund_apply,
)
from .reconcile import credits_reconcile
from .spend import (
    credits_provider_spend_alert_check,
    credits_spend_alert_send,
    credits_spend_totals_refresh,
)
from .stripe_endpoint import (
    credits_stripe_webhook_endpoint_sync,
    credits_stripe_webhook_path,
    credits_stripe_webhook_uuid,
)
from .workflow_holds import workflow_credits_charge, workflow_credits_hold, workflow_credits_return

__all__ = [
    "credits_adjust",
    "credits_capture",
    "credits_charge_refunds_apply",
    "credits_checkout_start",
    "credits_daily_grant",
    "credits_daily_refresh",
    "credits_dispute_apply",
    "credits_grant_signup",
    "credits_limits_check",
    "credits_refund_charge",
    "credits_purchase_close",
    "credits_purchase_grant",
    "credits_package_save",
    "credits_purchase_refund_request",
    "credits_reconcile",
    "credits_refund_apply",
    "credits_release",
    "credits_reserve",
    "credits_provider_spend_alert_check",
    "credits_spend_alert_send",
    "credits_spend_totals_refresh",
    "credits_stripe_webhook_endpoint_sync",
    "credits_stripe_webhook_path",
    "credits_stripe_webhook_uuid",
    "workflow_credits_charge",
    "workflow_credits_hold",
    "workflow_credits_return",
]
