import base64
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.core.audit import staff_action_record
from apps.core.exceptions import ApplicationError

from . import budget, credentials, http
from .models import ProviderCall, ProviderCredential
from .registry import adapter_registry
from .types import JobState, ProviderOutput, ProviderStatus


def provider_call_record(*, provider: str, model: str, operation: str, outcome: str, seconds: float,
                         cost_usd=None) -> None:
    """One call, on the job it was made for (the job whose budget it ran in), if any, with what the
    provider bills for it (a create that succeeded on a route with a cost)."""
    current = budget.current()
    ProviderCall.objects.create(
        provider=provider, model=model[:200], operation=operation, outcome=outcome, latency_ms=int(seconds * 1000),
        generation_id=current.generation_id if current else None, cost_usd=cost_usd,
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


# ---------------------------------------------------------------- credentials entered in the admin

MIN_KEY_LENGTH = 8
PROBE_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class CredentialInvalidError(ApplicationError):
    code = "credential_invalid"
    default_message = "That key cannot be used."


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def _key_label(last4: str) -> str:
    return f"set, ending …{last4}" if last4 else "not set"


def provider_credential_validate(*, provider: str, secret: str) -> str:
    """The key as it will be stored, or CredentialInvalidError saying what is wrong with it."""
    secret = secret.strip()
    if provider not in credentials.ENV_SETTINGS:
        raise CredentialInvalidError("Keys can be stored for hosted providers only.")
    if len(secret) < MIN_KEY_LENGTH or any(char.isspace() for char in secret):
        raise CredentialInvalidError(f"A key is at least {MIN_KEY_LENGTH} characters, with no spaces.")
    return secret


@transaction.atomic
def provider_credential_set(*, provider: str, secret: str, actor) -> ProviderCredential:
    """Store (encrypted) the key staff entered for a hosted provider; every process uses it at once
    unless the provider's environment variable is set (that wins)."""
    secret = provider_credential_validate(provider=provider, secret=secret)
    row, _ = ProviderCredential.objects.select_for_update().get_or_create(provider=provider)
    before = row.last4
    row.secret_encrypted = credentials.encrypt(secret)
    row.last4 = secret[-4:]
    row.updated_by = actor if getattr(actor, "pk", None) else None
    row.tested_at, row.test_ok, row.test_message = None, None, ""
    row.save()
    staff_action_record(actor=actor, action="credentials.set", target=row,
                        changes={"key": [_key_label(before), _key_label(row.last4)]})
    credentials.forget_cached()  # this process reads the new key at once; the others after commit
    transaction.on_commit(credentials.forget_cached)
    return row


@transaction.atomic
def provider_credential_clear(*, provider: str, actor) -> None:
    """Forget the stored key (an environment variable, if set, still applies)."""
    row = ProviderCredential.objects.select_for_update().filter(provider=provider).first()
    if row is None or not row.secret_encrypted:
        return
    before = row.last4
    row.secret_encrypted, row.last4 = "", ""
    row.updated_by = actor if getattr(actor, "pk", None) else None
    row.tested_at, row.test_ok, row.test_message = None, None, ""
    row.save()
    staff_action_record(actor=actor, action="credentials.clear", target=row,
                        changes={"key": [_key_label(before), _key_label("")]})
    credentials.forget_cached()  # this process reads the new key at once; the others after commit
    transaction.on_commit(credentials.forget_cached)


def _probe_message(status: int, ok_statuses: tuple[int, ...], source: str) -> ConnectionCheck:
    if status in ok_statuses:
        return ConnectionCheck(True, f"Connected: the provider accepted the key ({source}).")
    if status in (401, 403):
        return ConnectionCheck(False, f"The provider refused the key (HTTP {status}).")
    if status == 402:
        return ConnectionCheck(False, "The provider accepted the key but says the account needs credit (HTTP 402).")
    if status == 429:
        return ConnectionCheck(False, "The provider is rate limiting (HTTP 429): the key was not checked. Try again shortly.")
    if status >= 500:
        return ConnectionCheck(False, f"The provider answered with a server error (HTTP {status}). Try again later.")
    return ConnectionCheck(False, f"Unexpected answer from the provider (HTTP {status}).")


def provider_connection_test(*, provider: str) -> ConnectionCheck:
    """One cheap authenticated request with the key in use; the result is kept on the provider's
    credential row for the admin."""
    adapter = adapter_registry.get(provider) if provider in adapter_registry else None
    probe = getattr(adapter, "credentials_probe", None)
    if probe is None:
        return ConnectionCheck(False, "This provider has no connection test.")
    source = credentials.secret_source(provider)
    if not adapter.is_configured():
        check = ConnectionCheck(False, "No key is set (neither an environment variable nor a stored key).")
    else:
        base_url, headers = adapter.api_credentials()
        path, ok_statuses = probe
        try:
            with http.client(base_url=base_url, headers=headers, timeout=PROBE_TIMEOUT) as client:
                response = client.get(path.lstrip("/"))
            check = _probe_message(response.status_code, ok_statuses, "stored key" if source == "stored"
                                   else "environment variable")
        except httpx.TransportError as error:
            check = ConnectionCheck(False, f"Could not reach the provider ({type(error).__name__}).")
    ProviderCredential.objects.update_or_create(
        provider=provider,
        defaults={"tested_at": timezone.now(), "test_ok": check.ok, "test_message": check.message[:300]},
    )
    return check
