import uuid
from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from apps.ops.models import JobSample, ProbeResult


class JobSampleFactory(DjangoModelFactory):
    """An ended generation as the ops console stores it (services/samples.py writes the real ones)."""

    class Meta:
        model = JobSample

    generation_id = factory.LazyFunction(uuid.uuid4)
    finished_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    provider = "replicate"
    model = "flux-schnell"
    status = "succeeded"
    total_seconds = 4.0


class ProbeResultFactory(DjangoModelFactory):
    class Meta:
        model = ProbeResult

    window_start = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    route = "replicate:black-forest-labs/flux-schnell"
    provider = "replicate"
    ok = True
    latency_ms = 900
