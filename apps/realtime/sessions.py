"""Open sockets end with the session or the account they were opened with: on sign-out, the
session's sockets close; when an account is deactivated, all of its sockets close."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save

from .groups import session_group, user_group


def _end(group: str) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "live.end"})


def _on_logout(sender, request, user, **kwargs):
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _end(session_group(session_key))


def _on_user_saved(sender, instance, **kwargs):
    if not instance.is_active:
        transaction.on_commit(lambda: _end(user_group(instance.pk)))


def connect() -> None:
    user_logged_out.connect(_on_logout, dispatch_uid="realtime.sockets_end_on_logout")
    post_save.connect(_on_user_saved, sender=get_user_model(), dispatch_uid="realtime.sockets_end_on_deactivation")
