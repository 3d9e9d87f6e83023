"""A run's credits: hold the quote, charge each node's share as it succeeds, return the rest."""

from apps.credits import services as credits_services

from ..models import NodeRun, WorkflowRun


def _hold_key(run: WorkflowRun) -> str:
    return f"workflow-run:{run.pk}:hold:{run.hold_seq}"


def run_hold(run: WorkflowRun, amount: int) -> None:
    """Reserve `amount` more for the run (a new hold, with its own key)."""
    if amount <= 0:
        return
    run.hold_seq += 1
    credits_services.workflow_credits_hold(
        user=run.owner, amount=amount, key=_hold_key(run), memo=f"Held for a run of {run.workflow.name}"[:200],
    )
    run.held_credits += amount


def run_release_all(run: WorkflowRun) -> None:
    """Return whatever the run still holds (cached, failed, canceled and never-run nodes' shares)."""
    if run.held_credits:
        credits_services.workflow_credits_return(
            user=run.owner, amount=run.held_credits, key=f"workflow-run:{run.pk}:release:{run.hold_seq}",
            hold_key=_hold_key(run), memo=f"Returned: not used by a run of {run.workflow.name}"[:200],
        )
    run.held_credits = 0
    NodeRun.objects.filter(run=run, held_credits__gt=0).update(held_credits=0)


def node_charge(run: WorkflowRun, node: NodeRun) -> None:
    amount = node.held_credits
    if amount:
        credits_services.workflow_credits_charge(
            user=run.owner, amount=amount, key=f"workflow-run:{run.pk}:node:{node.pk}:capture",
            memo=f"Charged {amount} credit{'s' if amount != 1 else ''} for step {node.node_id}"[:200],
        )
    node.charged_credits += amount
    run.charged_credits += amount
    run.held_credits -= amount
    node.held_credits = 0


def node_hand_back(run: WorkflowRun, node: NodeRun) -> None:
    """A node whose work is charged elsewhere (a generation holds its own quote) returns its share."""
    amount = node.held_credits
    if amount:
        credits_services.workflow_credits_return(
            user=run.owner, amount=amount, key=f"workflow-run:{run.pk}:node:{node.pk}:handoff:{node.attempt}",
            hold_key=_hold_key(run), memo=f"Passed to step {node.node_id}'s generation"[:200],
        )
    run.held_credits -= amount
    node.held_credits = 0


