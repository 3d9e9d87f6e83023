"""Canceling a generation: its owner stops it, the held credits go back, the provider is told."""

import uuid

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import NotFoundError
from apps.credits import services as credits_services
from apps.providers import router

from ..exceptions import NotCancelableError
from ..models import Generation, Status
from .state import announce_end, generation_save


def generation_cancel(*, user, generation_id) -> Generation:
    try:
        generation_id = uuid.UUID(str(generation_id))
    except ValueError:
        raise NotFoundError("Generation not found.") from None
    with transaction.atomic():
        generation = Generation.objects.select_for_update().filter(pk=generation_id, owner=user).first()
        if generation is None:
            raise NotFoundError("Generation not found.")
        if generation.status == Status.CANCELED:
            return generation
        if not generation.is_cancelable:
            raise NotCancelableError()
        generation.cancel()
        generation.finished_at = timezone.now()
        generation_save(generation, "finished_at")
        credits_services.credits_release(generation=generation)
        announce_end(generation)
        provider, job_id = generation.provider, generation.provider_job_id
        transaction.on_commit(lambda: router.job_cancel(provider, job_id))
    return generation
