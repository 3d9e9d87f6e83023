"""Keyset pagination on (created_at, id): constant time at any depth, never a COUNT(*)."""

import base64
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from .exceptions import ApplicationError


class InvalidCursorError(ApplicationError):
    code = "invalid_cursor"
    default_message = "The page cursor is not valid."


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, pk) -> str:
    raw = f"{created_at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, pk = raw.split("|", 1)
        return datetime.fromisoformat(created), pk
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursorError() from None


def keyset_page(queryset: QuerySet, *, cursor: str | None, limit: int) -> Page:
    """Newest first. `queryset` must not be ordered yet."""
    if cursor:
        created_at, pk = decode_cursor(cursor)
        # A cursor that decodes but was not made for this list (a word where an id goes, a time
        # without a zone) is as invalid as one that doesn't decode: refuse it before it reaches SQL.
        try:
            pk = queryset.model._meta.pk.to_python(pk)
        except (ValidationError, TypeError, ValueError):
            raise InvalidCursorError() from None
        if timezone.is_naive(created_at):
            raise InvalidCursorError()
        # The redundant `created_at <= cursor` gives PostgreSQL a range to start the index scan at;
        # the OR alone is only a filter, which reads every row above the cursor (cost grows with depth).
        queryset = queryset.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk), created_at__lte=created_at
        )
    rows = list(queryset.order_by("-created_at", "-pk")[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].pk) if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)
