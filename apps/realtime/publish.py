"""Services publish live events here, after their transaction commits.

Every message is one JSON object: a typed event with its data and the HTML fragments for the
page's out-of-band swaps. Browsers swap the HTML; API clients read the rest.
"""

import json
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .groups import user_group

logger = logging.getLogger(__name__)


def _send(group: str, message: dict) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": "live.event", "text": json.dumps(message)})
    except Exception:
        # A live update is best effort: a reload re-renders from the database.
        logger.exception("live event not delivered", extra={"group": group, "event": message["type"]})


def publish_to_user(*, user_id, event: str, data: dict, html: str = "") -> None:
    message = {"type": event, "data": data, "html": html, "sent_at": time.time()}
    transaction.on_commit(lambda: _send(user_group(user_id), message))
