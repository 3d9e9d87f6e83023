"""Account pages: webhook endpoints, their delivery log and the "send test event" button."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.exceptions import ApplicationError

from . import selectors, services
from .models import EVENT_TYPES

# The signing secret is shown once, on the page right after it was made (the endpoint added or its
# secret rolled): the session carries it to that one page, which takes it out.
_SECRET_ONCE = "hooks.secret_once"


def _show_secret_once(request, endpoint) -> None:
    request.session[_SECRET_ONCE] = {"endpoint_id": str(endpoint.pk), "secret": endpoint.secret}


@login_required
@require_http_methods(["GET", "POST"])
def endpoints_view(request):
    error, form = None, {"url": "", "description": "", "events": list(EVENT_TYPES)}
    if request.method == "POST":
        form = {"url": request.POST.get("url", ""), "description": request.POST.get("description", ""),
                "events": request.POST.getlist("events")}
        try:
            endpoint = services.webhook_endpoint_create(user=request.user, **form)
        except ApplicationError as exc:
            error = exc.message
        else:
            _show_secret_once(request, endpoint)
            messages.success(request, "Endpoint added. Send it a test event to check your receiver.")
            return redirect("hooks:endpoint", endpoint_id=endpoint.pk)
    context = {
        "endpoints": selectors.webhook_endpoint_list(user=request.user), "event_types": EVENT_TYPES,
        "form": form, "error": error,
    }
    return render(request, "hooks/endpoints.html", context, status=422 if error else 200)


@login_required
def endpoint_view(request, endpoint_id):
    endpoint = selectors.webhook_endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    once = request.session.get(_SECRET_ONCE) or {}
    new_secret = ""
    if once.get("endpoint_id") == str(endpoint.pk):
        del request.session[_SECRET_ONCE]
        new_secret = once.get("secret") if once.get("secret") == endpoint.secret else ""
    context = {
        "endpoint": endpoint, "event_types": EVENT_TYPES, "new_secret": new_secret,
        "deliveries": selectors.webhook_delivery_recent(endpoint=endpoint),
    }
    return render(request, "hooks/endpoint.html", context)


@login_required
@require_POST
def endpoint_test_view(request, endpoint_id):
    delivery = services.webhook_endpoint_send_test(user=request.user, endpoint_id=endpoint_id)
    delivery.refresh_from_db()
    if delivery.status == delivery.Status.SUCCEEDED:
        messages.success(request, f"Test event delivered (HTTP {delivery.last_status_code}).")
    elif delivery.attempts:
        messages.error(request, f"Test event not delivered: {delivery.last_error}")
    else:
        messages.info(request, "Test event queued; it appears in the log below when sent.")
    return redirect("hooks:endpoint", endpoint_id=endpoint_id)


@login_required
@require_POST
def endpoint_toggle_view(request, endpoint_id):
    endpoint = selectors.webhook_endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    services.webhook_endpoint_update(user=request.user, endpoint_id=endpoint.pk, is_active=not endpoint.is_active)
    return redirect("hooks:endpoint", endpoint_id=endpoint_id)


@login_required
@require_POST
def endpoint_rotate_view(request, endpoint_id):
    endpoint = services.webhook_endpoint_rotate_secret(user=request.user, endpoint_id=endpoint_id)
    _show_secret_once(request, endpoint)
    messages.success(request, "New signing secret made; the old one no longer signs anything.")
    return redirect("hooks:endpoint", endpoint_id=endpoint_id)


@login_required
@require_POST
def endpoint_delete_view(request, endpoint_id):
    services.webhook_endpoint_delete(user=request.user, endpoint_id=endpoint_id)
    messages.success(request, "Endpoint deleted.")
    return redirect("hooks:endpoints")


@login_required
@require_POST
def delivery_retry_view(request, delivery_id: int):
    delivery = services.webhook_delivery_retry(user=request.user, delivery_id=delivery_id)
    return redirect("hooks:endpoint", endpoint_id=delivery.endpoint_id)
