import base64
from dataclasses import asdict
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from . import budget
from .models import ProviderCall
from .types import JobState, ProviderOutput, ProviderStatus


def provider_call_record(*, provider: str, model: str, operation: str, outcome: str, seconds: float) -> None:
    """One call, on the job it was made for (the job whose budget it ran in), if any."""
    current = budget.current()
    ProviderCall.objects.create(
        provider=provider, model=model[:200], operation=operation, outcome=outcome, latency_ms=int(seconds * 1000),
        generation_id=current.generation_id if current else None,
    )


def provider_webhook_url(provider: str, *, generation_id: str | None = None, attempt: int | None = None
                         ) -> str | None:
    """Where a provider should send its callbacks, or None when no public URL is set. The URL names
    our job and its route attempt (providers keep query parameters), so a job whose create answer
    was lost can still be recognised when it reports."""
    base = settings.PROVIDER_WEBHOOK_BASE_URL
    if not base:
        return None
    url = base.rstrip("/") + reverse("provider_webhook", kwargs={"provider": provider})
    if generation_id and attempt:
        url += "?" + urlencode({"generation": generation_id, "attempt": attempt})
    return url


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
