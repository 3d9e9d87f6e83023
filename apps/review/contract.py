"""The judges' small typed contract: what a judge is given and what it answers.

A judge looks at one output image (a PIL image, RGB or RGBA) with the request it answers and, for
edits, the source photo and mask, and returns a `JudgeResult`. Judges never touch the database:
thresholds come in as `limits`, so they run the same in a task, a workflow node and the bench."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from PIL import Image


class TaskKind(StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    EDIT = "edit"
    INPAINT = "inpaint"
    REMOVE_BACKGROUND = "remove-background"
    UPSCALE = "upscale"
    VIDEO_FRAME = "video-frame"


class Stage(StrEnum):
    SAFETY = "safety"    # runs before the image is visible
    QUALITY = "quality"  # may finish after the image is shown


@dataclass(frozen=True)
class ReviewRequest:
    prompt: str
    task: TaskKind
    # The photo an edit started from and its mask (white = the area to change), where there is one.
    source: Image.Image | None = None
    mask: Image.Image | None = None
    # The size asked for (the format judge checks the shape against it).
    expected_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class JudgeResult:
    name: str
    passed: bool
    score: float
    reason: str  # one sentence a user understands
    seconds: float = 0.0
    # False when the judge could not decide (a hosted judge past its time budget): not counted.
    reviewed: bool = True
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "score": round(self.score, 4), "reason": self.reason,
                "seconds": round(self.seconds, 4), "reviewed": self.reviewed}


class Judge(Protocol):
    name: str
    label: str
    stage: Stage

    def __call__(self, image: Image.Image, request: ReviewRequest, limits: dict) -> JudgeResult: ...


@dataclass(frozen=True)
class FunctionJudge:
    """A judge made of a function: `judge(image, request, limits) -> (passed, score, reason)`."""

    name: str
    label: str
    stage: Stage
    function: Callable[[Image.Image, ReviewRequest, dict], tuple[bool, float, str]]

    def __call__(self, image: Image.Image, request: ReviewRequest, limits: dict) -> JudgeResult:
        started = time.perf_counter()
        passed, score, reason = self.function(image, request, limits)
        return JudgeResult(name=self.name, passed=bool(passed), score=float(score), reason=reason,
                           seconds=time.perf_counter() - started)


class Verdict(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    PENDING = "pending"
    NOT_REVIEWED = "not_reviewed"


def verdict_of(results: list[dict], *, pending: bool = False) -> Verdict:
    """Green when no judge failed, amber when one did, red when two or more did; judges that could
    not decide are not counted, and with none that decided the image is not reviewed."""
    if pending:
        return Verdict.PENDING
    decided = [r for r in results if r.get("reviewed", True)]
    if not decided:
        return Verdict.NOT_REVIEWED
    failed = sum(1 for r in decided if not r["passed"])
    return Verdict.GREEN if failed == 0 else Verdict.AMBER if failed == 1 else Verdict.RED


_WORST_FIRST = [Verdict.RED, Verdict.AMBER, Verdict.PENDING, Verdict.GREEN, Verdict.NOT_REVIEWED]


def verdict_worst(verdicts) -> Verdict:
    """Of several images' verdicts, the one a generation shows: red before amber before green."""
    present = {Verdict(v) for v in verdicts}
    return next((v for v in _WORST_FIRST if v in present), Verdict.NOT_REVIEWED)
