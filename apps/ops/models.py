from django.db import models


class JobSample(models.Model):
    """One ended generation, as the ops console measures it: who ran it, how it ended and how long
    each phase took. Written once per generation (its id is unique) when it ends, so latency
    percentiles come from stored timings over a narrow, indexed table instead of the generations
    table itself; pruned after OPS_SAMPLES_RETENTION_DAYS."""

    generation_id = models.UUIDField(unique=True)
    finished_at = models.DateTimeField()
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=100, help_text="The catalogue model's slug.")
    status = models.CharField(max_length=20)
    error_code = models.CharField(max_length=50, blank=True)
    # Submit to terminal state, in seconds; the phases (apps/generations/metrics.PHASE_SPANS) where recorded.
    total_seconds = models.FloatField()
    dispatch_seconds = models.FloatField(null=True, blank=True)
    to_provider_seconds = models.FloatField(null=True, blank=True)
    provider_seconds = models.FloatField(null=True, blank=True)
    derivatives_seconds = models.FloatField(null=True, blank=True)
    store_seconds = models.FloatField(null=True, blank=True)
    publish_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["finished_at"], name="job_sample_finished"),
            models.Index(fields=["model", "status", "-finished_at"], name="job_sample_model_recent"),
            models.Index(fields=["provider", "finished_at"], name="job_sample_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.status} in {self.total_seconds:.1f} s"


class ProbeResult(models.Model):
    """One probe of the continuous provider benchmark: a tiny job on one route in one time window.
    The unique (window, route) makes a beat that fires twice record once."""

    window_start = models.DateTimeField()
    route = models.CharField(max_length=250, help_text="provider:model")
    provider = models.CharField(max_length=50)
    ok = models.BooleanField(null=True, help_text="Empty while the probe runs.")
    error_class = models.CharField(max_length=50, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["window_start", "route"], name="probe_once_per_window")]
        indexes = [models.Index(fields=["provider", "window_start"], name="probe_provider_window")]

    def __str__(self) -> str:
        return f"{self.route} @ {self.window_start:%Y-%m-%d %H:%M}: {self.ok}"


class BreakerTransition(models.Model):
    """A circuit breaker changed state: its history, for the dashboard. Pruned with the samples."""

    key = models.CharField(max_length=250, help_text="provider, or provider:model")
    state = models.CharField(max_length=10)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["key", "-at"], name="breaker_transition_key"),
                   models.Index(fields=["-at"], name="breaker_transition_recent")]

    def __str__(self) -> str:
        return f"{self.key} → {self.state} at {self.at:%Y-%m-%d %H:%M:%S}"
