"""Live updates of runs: a subscriber of the run events that draws the changed cards and sends them
to the owner's browsers and API clients (`publish_to_user`), after commit."""

from django.template.loader import render_to_string

from apps.core import events
from apps.credits import selectors as credits_selectors
from apps.realtime.publish import publish_to_user

from .presenters import (
    node_event_data,
    node_html,
    node_uploads,
    run_event_data,
    run_header_html,
    run_timeline_html,
)


def run_publish(event: events.RunNodesChanged | events.RunFinished) -> None:
    """Only what changed: the nodes' cards and, when asked, the run's header, drawn from the run's
    tallies (no read of its other nodes). The timeline of every node rides along only when the
    run itself changed state (start, end, cancel, retry, resume); the page re-reads it on resync."""
    run, nodes = event.run, list(event.nodes)
    finished = isinstance(event, events.RunFinished)
    run_changed = finished or event.run_changed
    uploads = node_uploads(nodes)
    html = "".join(node_html(node, run=run, uploads=uploads) for node in nodes)
    if finished or event.header:
        html += run_header_html(run)
    if run_changed:
        html += run_timeline_html(run)
    if event.balance:
        value = credits_selectors.credits_balance_get(user=run.owner_id)
        html += render_to_string("_balance.html", {"credit_balance": value, "oob": True})
    data = run_event_data(run)
    if run_changed:
        name = "run.updated" if run.is_active else f"run.{run.status}"
    else:
        name = "run.nodes_updated"
    data["nodes"] = [node_event_data(node, run=run, uploads=uploads) for node in nodes]
    publish_to_user(user_id=run.owner_id, event=name, data=data, html=html)

