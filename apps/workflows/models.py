"""Workflows (a user's named graph), immutable versions, runs and one node run per node.

States (django-fsm; services set the timestamps and save):

    run:   running → succeeded | failed | canceled;   failed → running (retry a node, resume)
    node:  pending → queued → running → succeeded | failed | canceled
           running → queued (an automatic retry or the next fallback model)
           failed → queued (retried alone, or the run resumed)
"""

import uuid

from django.conf import settings
from django.db import models
from django_fsm import FSMField, transition

from apps.core.models import BaseModel


class Workflow(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    # The starter it was copied from, if any (display only).
    starter_key = models.CharField(max_length=50, blank=True)
    latest_version_number = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at", "-id"], name="workflow_owner_newest")]

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(models.Model):
    """One saved graph, validated and normalised. Never changed: saving makes a new version."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Workflow versions are immutable; save a new version instead.")
        super().save(*args, **kwargs)

    @property
    def loaded(self):
        """The graph as an engine `Graph`, built once per process: versions never change."""
        from .engine.graph import graph_load

        key = (self.pk, self.workflow_id)
        graph = _GRAPHS.get(key)
        if graph is None:
            if len(_GRAPHS) >= 512:
                _GRAPHS.clear()
            graph = _GRAPHS[key] = graph_load(self.graph)
        return graph


_GRAPHS: dict = {}


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class WorkflowRun(BaseModel):
    """One run of a version with its inputs. Credits: the quote of the whole graph is held when it
    starts; each node that succeeds is charged its share; what is left is returned when it ends."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflow_runs")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.PROTECT, related_name="runs")
    status = FSMField(default=RunStatus.RUNNING, choices=RunStatus.choices, db_index=True)
    # Exposed inputs as resolved at start: {node_id: image dict | text}.
    inputs = models.JSONField(default=dict, blank=True)
    force_rerun = models.BooleanField(default=False, help_text="Skip the node cache.")
    quoted_credits = models.PositiveIntegerField(default=0)
    held_credits = models.PositiveIntegerField(default=0, help_text="Reserved and not yet charged or returned.")
    charged_credits = models.PositiveIntegerField(default=0)
    # Each new hold (start, retry, resume) gets the next number: ledger keys are unique per hold.
    hold_seq = models.PositiveIntegerField(default=0)
    revision = models.PositiveIntegerField(default=0)
    error_message = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Tallies of its nodes by state, changed with them under the run's lock: ending the run and
    # drawing its header then need no scan of the nodes, however many there are.
    nodes_total = models.PositiveIntegerField(default=0)
    nodes_active = models.PositiveIntegerField(default=0, help_text="Queued or running.")
    nodes_succeeded = models.PositiveIntegerField(default=0)
    nodes_failed = models.PositiveIntegerField(default=0)
    nodes_cached = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at", "-id"], name="workflow_run_owner_newest")]

    def __str__(self) -> str:
        return f"Run of {self.workflow} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status == RunStatus.RUNNING

    @transition(field=status, source=RunStatus.RUNNING, target=RunStatus.SUCCEEDED)
    def succeed(self):
        pass

    @transition(field=status, source=RunStatus.RUNNING, target=RunStatus.FAILED)
    def fail(self):
        pass

    @transition(field=status, source=RunStatus.RUNNING, target=RunStatus.CANCELED)
    def cancel(self):
        pass

    @transition(field=status, source=RunStatus.FAILED, target=RunStatus.RUNNING)
    def reopen(self):
        pass


class NodeStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


NODE_ACTIVE = [NodeStatus.QUEUED, NodeStatus.RUNNING]
NODE_OPEN = [NodeStatus.PENDING, NodeStatus.QUEUED, NodeStatus.RUNNING]


class NodeRun(BaseModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="nodes")
    # Denormalised from the run: the node cache is looked up per user.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    node_id = models.CharField(max_length=40)
    type_key = models.CharField(max_length=40)
    status = FSMField(default=NodeStatus.PENDING, choices=NodeStatus.choices, db_index=True)
    # Parents that have not succeeded yet; the node is queued by whoever brings this to 0.
    waiting_on = models.PositiveSmallIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=0, help_text="Executions so far, all rounds.")
    round_attempt = models.PositiveSmallIntegerField(default=0, help_text="Executions with the current model.")
    model_index = models.PositiveSmallIntegerField(default=0, help_text="0 = the node's model, then fallbacks.")
    model = models.CharField(max_length=50, blank=True, help_text="Catalogue model of the latest attempt.")
    progress = models.FloatField(default=0)
    price = models.PositiveIntegerField(default=0, help_text="Its share of the run's quote.")
    held_credits = models.PositiveIntegerField(default=0)
    charged_credits = models.PositiveIntegerField(default=0)
    cached = models.BooleanField(default=False)
    cached_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    cache_key = models.CharField(max_length=64, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    generation = models.ForeignKey(
        "generations.Generation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.CharField(max_length=300, blank=True, help_text="Shown to the user.")
    revision = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "node_id"]
        constraints = [models.UniqueConstraint(fields=["run", "node_id"], name="node_run_unique_node")]
        indexes = [models.Index(fields=["owner", "cache_key", "status"], name="node_run_cache_lookup")]

    def __str__(self) -> str:
        return f"{self.node_id} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in NODE_OPEN

    @transition(field=status, source=NodeStatus.PENDING, target=NodeStatus.QUEUED)
    def enqueue(self):
        pass

    @transition(field=status, source=NodeStatus.QUEUED, target=NodeStatus.RUNNING)
    def start(self):
        pass

    @transition(field=status, source=NodeStatus.RUNNING, target=NodeStatus.QUEUED)
    def requeue(self):
        pass

    @transition(field=status, source=NodeStatus.RUNNING, target=NodeStatus.SUCCEEDED)
    def succeed(self):
        pass

    @transition(field=status, source=[NodeStatus.QUEUED, NodeStatus.RUNNING], target=NodeStatus.FAILED)
    def fail(self):
        pass

    @transition(field=status, source=NODE_OPEN, target=NodeStatus.CANCELED)
    def cancel(self):
        pass

    @transition(field=status, source=NodeStatus.FAILED, target=NodeStatus.QUEUED)
    def retry(self):
        pass


class StarterWorkflow(BaseModel):
    """A shipped example workflow (apps/workflows/starters.toml), upserted like the catalogue."""

    key = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    graph = models.JSONField()
    sort_order = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name
