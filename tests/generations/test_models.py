import pytest
from django_fsm import TransitionNotAllowed

from apps.generations.models import Generation, Status

PATHS = {
    "dispatch": ({Status.QUEUED}, Status.DISPATCHED),
    "start": ({Status.QUEUED, Status.DISPATCHED}, Status.RUNNING),
    "begin_finishing": ({Status.RUNNING}, Status.FINISHING),
    "succeed": ({Status.FINISHING}, Status.SUCCEEDED),
    "fail": ({Status.QUEUED, Status.DISPATCHED, Status.RUNNING, Status.FINISHING}, Status.FAILED),
    "cancel": ({Status.QUEUED, Status.DISPATCHED, Status.RUNNING}, Status.CANCELED),
    "reject": ({Status.QUEUED, Status.DISPATCHED, Status.RUNNING, Status.FINISHING}, Status.REJECTED),
}


@pytest.mark.parametrize("transition", PATHS)
@pytest.mark.parametrize("source", Status.values)
def test_each_transition_runs_only_from_its_sources(transition, source):
    allowed, target = PATHS[transition]
    generation = Generation(status=source)
    if source in allowed:
        getattr(generation, transition)()
        assert generation.status == target
    else:
        with pytest.raises(TransitionNotAllowed):
            getattr(generation, transition)()
        assert generation.status == source


def test_terminal_states_have_no_way_out():
    for status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.REJECTED):
        generation = Generation(status=status)
        assert list(generation.get_available_status_transitions()) == []
