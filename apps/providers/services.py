import base64
from dataclasses import asdict

from django.conf import settings
from django.urls import reverse

from .models import ProviderCall
from .types import JobState, ProviderOutput, ProviderStatus


def provider_call_record(*, provider: str, model: str, operation: str, outcome: str, seconds: float) -> None:
    ProviderCall.objects.create(
        provider=provider, model=model[:200], operation=operation, outcome=outcome, latency_ms=int(seconds * 1000)
    )


def provider_webhook_url(provider: str) -> str | None:
    """Where a provider should send its callbacks, or None when no public URL is set."""
    base = settings.PROVIDER_WEBHOOK_BASE_URL
    if not base:
        return None
    return base.rstrip("/") + reverse("provider_webhook", kwargs={"provider": provider})


def status_to_json(status: ProviderStatus) -> dict:
    """A provider status as JSON, to be stored (bytes as base64)."""
    data = asdict(status)
    data["preview"] = _b64(status.preview)
    data["outputs"] = [{**asdict(output), "content": _b64(output.content)} for output in status.outputs]
    return data


def status_from_json(data: dict) -> ProviderStatus:
    outputs = tuple(
        ProviderOutput(**{**output, "content": _unb64(output["content"])}) for output in data.get("outputs", ())
    )
    return ProviderStatus(**{
        **data, "state": JobState(data["state"]), "preview": _unb64(data.get("preview")), "outputs": outputs,
    })


def _b64(content: bytes | None) -> str | None:
    return None if content is None else base64.b64encode(content).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
