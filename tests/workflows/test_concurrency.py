"""Two parents finishing at the same instant unblock their child exactly once."""

import threading
from unittest import mock

import pytest
from django.db import connection

from apps.workflows import services, tasks
from apps.workflows.models import NodeRun, NodeStatus
from apps.workflows.services import scheduling

from .conftest import edge, node
from .factories import workflow_with

FAN_IN = {
    "nodes": [node("photo", "input_photo"), node("left", "reroute"), node("right", "reroute"), node("join", "reroute")],
    "edges": [edge("photo", "left"), edge("photo", "right"), edge("left", "join"), edge("right", "join")],
}


@pytest.mark.django_db(transaction=True)
def test_two_parents_finishing_at_once_enqueue_the_child_exactly_once(catalog, user, photo):
    sent: list[str] = []
    lock = threading.Lock()

    def record(node_run_id, **kwargs):
        with lock:
            sent.append(str(node_run_id))

    workflow = workflow_with(user, FAN_IN)
    rounds = 12
    with mock.patch.object(tasks, "node_run_enqueue", record):
        for _ in range(rounds):
            run = services.run_start(user=user, workflow_id=workflow.pk, inputs={"photo": str(photo.pk)})
            nodes = {n.node_id: n for n in NodeRun.objects.filter(run=run)}
            services.node_run_execute(node_run_id=nodes["photo"].pk)  # queues left and right
            for side in ("left", "right"):
                assert scheduling.node_claim(nodes[side].pk) is not None  # both running, attempt 1
            barrier = threading.Barrier(2)
            results = []

            def finish(node_run_id, barrier=barrier, results=results):
                try:
                    barrier.wait()
                    results.append(services.node_succeed(node_run_id=node_run_id, attempt=1, outputs={"image": []}))
                finally:
                    connection.close()

            threads = [threading.Thread(target=finish, args=(nodes[side].pk,)) for side in ("left", "right")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert results == [True, True]
            join = NodeRun.objects.get(pk=nodes["join"].pk)
            assert (join.status, join.waiting_on) == (NodeStatus.QUEUED, 0)
            assert sent.count(str(join.pk)) == 1
    assert len(sent) == rounds * 4  # photo, left, right and join: each sent once per run
