import uuid

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.registry import NotRegistered
from apps.generations import services as generation_services

from .exceptions import WebhookRejectedError
from .registry import adapter_get

MAX_WEBHOOK_BYTES = 1_000_000


@csrf_exempt  # authenticated by the provider's signature instead
@require_POST
def provider_webhook_view(request, provider: str):
    try:
        adapter = adapter_get(provider)
    except NotRegistered:
        return JsonResponse({"detail": "Unknown provider.", "code": "not_found"}, status=404)
    if not hasattr(adapter, "parse_webhook"):
        return JsonResponse({"detail": "This provider sends no webhooks.", "code": "not_found"}, status=404)
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"detail": "Payload too large.", "code": "too_large"}, status=413)
    try:
        event = adapter.parse_webhook({k.lower(): v for k, v in request.headers.items()}, request.body)
    except WebhookRejectedError as error:
        return JsonResponse({"detail": error.message, "code": error.code}, status=error.http_status)
    # Stored and handed to a task: the answer never waits on downloading or finishing the outputs.
    # Our webhook URLs name the job and route attempt they were made for (see provider_webhook_url):
    # a job whose create answer was lost is recognised here, as the webhook is received.
    attempt = request.GET.get("attempt", "")
    try:
        generation_id = uuid.UUID(request.GET.get("generation", ""))
    except ValueError:
        generation_id = None
    generation_services.generation_webhook_receive(
        provider=provider, event=event, generation_id=generation_id,
        attempt=int(attempt) if attempt.isdecimal() else None,
    )
    return HttpResponse(status=204)
