"""The staff audit trail: one record per staff change to money or content (see `StaffAction`)."""

from django.db import models

from .models import StaffAction


def _plain(value):
    """A value as JSON can hold it (decimals, dates and the like as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def field_changes(before: dict, after: dict) -> dict:
    """{field: [before, after]} for the fields whose values differ."""
    return {
        name: [_plain(before.get(name)), _plain(after.get(name))]
        for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)
    }


def staff_action_record(
    *, actor, action: str, target: models.Model | None = None, target_type: str = "", target_id: str = "",
    target_label: str = "", changes: dict | None = None,
) -> StaffAction:
    """Write one audit record, in the caller's transaction (it stands or falls with the change)."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_label = target_label or str(target)
    return StaffAction.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=(getattr(actor, "email", "") or getattr(actor, "get_username", lambda: "")() or "")[:254],
        action=action, target_type=target_type[:100], target_id=str(target_id)[:100],
        target_label=str(target_label)[:200], changes=_plain(changes or {}),
    )
