"""Darkroom's offline engine, an adapter like any other: it renders inside the worker."""

import random
import time

from django.conf import settings

from apps.providers.exceptions import ProviderError
from apps.providers.registry import adapter_registry
from apps.providers.retry import RetryPolicy
from apps.providers.types import (
    CancelCheck,
    GenerationRequest,
    JobState,
    ProgressCallback,
    ProviderOutput,
    ProviderStatus,
)

from . import renderer

STYLES = {"procedural-sketch-v1": "sketch", "procedural-studio-v1": "studio"}


class OfflineEngineFailure(ProviderError):
    code = "engine_failure"
    default_message = "The offline engine failed while drawing this image. You were not charged."


@adapter_registry.register("offline")
class OfflineEngineAdapter:
    key = "offline"
    blocking = True
    retry_policy = RetryPolicy(attempts=1)

    @classmethod
    def is_configured(cls) -> bool:
        return True

    def run(
        self, request: GenerationRequest, *, on_progress: ProgressCallback, is_canceled: CancelCheck
    ) -> ProviderStatus:
        style = STYLES.get(request.provider_model, "sketch")
        steps = max(1, settings.OFFLINE_ENGINE_STEPS)
        delay = settings.OFFLINE_ENGINE_STEP_DELAY_MS / 1000
        # Injected failures strike midway, so a demo shows progress before the error.
        fail_at = steps // 2 if random.random() < settings.OFFLINE_ENGINE_FAILURE_RATE else None
        seed = int(request.seed or 0)
        total = steps * request.num_images
        started = time.monotonic()
        outputs = []
        for index in range(request.num_images):
            canvas = None
            for step, canvas in enumerate(
                renderer.render_steps(
                    prompt=request.prompt, negative_prompt=request.negative_prompt, seed=seed + index,
                    width=request.width, height=request.height, style=style, steps=steps,
                )
            ):
                if is_canceled():
                    return ProviderStatus(state=JobState.CANCELED)
                if fail_at is not None and index == 0 and step == fail_at:
                    raise OfflineEngineFailure()
                done = (index * steps + step + 1) / total
                if done < 1:
                    on_progress(
                        ProviderStatus(
                            state=JobState.RUNNING, progress=done,
                            preview=renderer.preview_bytes(canvas, progress=done),
                        )
                    )
                if delay:
                    time.sleep(delay)
            outputs.append(ProviderOutput(content=renderer.png_bytes(canvas), content_type="image/png"))
        return ProviderStatus(
            state=JobState.SUCCEEDED, progress=1.0, outputs=tuple(outputs),
            predict_seconds=time.monotonic() - started,
        )
