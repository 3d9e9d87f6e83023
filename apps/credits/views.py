"""Credits pages: read the request, call a selector or a service, render. No rules here."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.exceptions import ApplicationError

from . import selectors, services


@login_required
@require_GET
def credits_view(request):
    balance = selectors.credits_balance_get(user=request.user)
    context = {
        "balance": balance,
        "balance_low": selectors.credits_balance_is_low(balance=balance),
        "packages": selectors.credits_packages_for_sale(),
        "purchases_enabled": selectors.credits_purchases_enabled(),
        "page": selectors.credits_history_page(user=request.user, cursor=request.GET.get("before") or None),
        "checkout_canceled": request.GET.get("checkout") == "canceled",
    }
    return render(request, "credits/credits.html", context)


@login_required
@require_POST
def buy_view(request, package_id: int):
    try:
        _, checkout_url = services.credits_checkout_start(
            user=request.user, package_id=package_id,
            # Stripe fills in {CHECKOUT_SESSION_ID} when it sends the buyer back.
            success_url=request.build_absolute_uri(reverse("credits:checkout_done")) + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=request.build_absolute_uri(reverse("credits:credits")) + "?checkout=canceled",
        )
    except ApplicationError as exc:
        if exc.http_status == 404:
            raise
        messages.error(request, exc.message)
        return redirect("credits:credits")
    response = redirect(checkout_url)
    response.status_code = 303
    return response


@login_required
@require_GET
def checkout_done_view(request):
    purchase = selectors.credits_purchase_for_session(user=request.user, session_id=request.GET.get("session_id", ""))
    return redirect("credits:purchase", purchase_id=purchase.pk)


@login_required
@require_GET
def purchase_view(request, purchase_id):
    purchase = selectors.credits_purchase_get_for_user(user=request.user, purchase_id=purchase_id)
    context = {"purchase": purchase, "entries": selectors.credits_purchase_entries(purchase=purchase)}
    return render(request, "credits/purchase.html", context)


@login_required
@require_GET
def purchase_status_view(request, purchase_id):
    """The part of the receipt that changes; htmx polls it until the payment lands."""
    purchase = selectors.credits_purchase_get_for_user(user=request.user, purchase_id=purchase_id)
    context = {"purchase": purchase, "entries": selectors.credits_purchase_entries(purchase=purchase), "oob": True}
    return render(request, "credits/purchase.html#status", context)
