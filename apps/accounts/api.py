"""API keys through the API: list, create (the secret is in that one response), revoke."""

from datetime import datetime

from ninja import Field, Path, Query, Router, Schema, Status

from apps.core.idempotency import idempotency_redact
from apps.core.pagination import keyset_page

from . import services
from .models import ApiKey

router = Router(tags=["api keys"])


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    secret: str | None = Field(description="The key itself. Shown only in this response: store it now.")


class ApiKeyIn(Schema):
    name: str = Field(max_length=100, description="A name to recognise the key by.")


class ApiKeyPage(Schema):
    items: list[ApiKeyOut]
    next_cursor: str | None


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=100)


@router.get("/api-keys", response=ApiKeyPage, summary="List your API keys, newest first")
def api_key_list(request, query: Query[PageQuery]):
    page = keyset_page(ApiKey.objects.filter(user=request.auth), cursor=query.cursor, limit=query.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/api-keys", response={201: ApiKeyCreatedOut}, summary="Create an API key")
def api_key_create(request, payload: ApiKeyIn):
    """Returns the new key's `secret` once; only its hash is kept (a replay of this request with the
    same Idempotency-Key answers `secret: null`)."""
    idempotency_redact(request, "secret")
    issued = services.api_key_create(user=request.auth, name=payload.name)
    return Status(201, {**ApiKeyOut.from_orm(issued.api_key).dict(), "secret": issued.secret})


@router.post("/api-keys/{api_key_id}/revoke", response=ApiKeyOut, summary="Revoke an API key")
def api_key_revoke(request, api_key_id: int = Path(..., ge=1, le=2**63 - 1)):
    """The key stops working at once (even the one making this request). Revoking twice is harmless."""
    return services.api_key_revoke(user=request.auth, api_key_id=api_key_id)
