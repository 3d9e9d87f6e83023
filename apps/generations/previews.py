"""A generation's live previews, for other apps: each intermediate image a provider reports goes to
every registered listener (e.g. the OpenAI-compatible API, which streams some as partial images).

Listeners run in the process that applies the progress, after the preview was published; one that
fails is logged and never stops the job.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Called as listener(generation=..., progress=..., preview=...) with the preview's image bytes.
preview_listeners: list[Callable[..., None]] = []


def previews_notify(*, generation, progress: float, preview: bytes) -> None:
    for listener in preview_listeners:
        try:
            listener(generation=generation, progress=progress, preview=preview)
        except Exception:
            logger.exception("preview listener failed", extra={"generation": str(generation.pk)})
