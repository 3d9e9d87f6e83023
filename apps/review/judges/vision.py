"""The hosted vision judge (optional): any OpenAI-compatible chat-completions endpoint that takes
images, asked to grade the image against a rubric for its task and to answer a JSON verdict with a
one-sentence reason. Past its time budget (REVIEW_VISION_TIMEOUT_SECONDS) or on any failure the
image is "not reviewed" by it, never failed."""

import base64
import io
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import httpx
from django.conf import settings
from PIL import Image

from ..contract import JudgeResult, ReviewRequest, Stage, TaskKind

NAME = "vision"
EDGE = 1024  # the long edge sent: enough for text, hands and small objects

SYSTEM = (
    "You are a strict image reviewer. Grade the image against the rubric. Answer only a JSON object: "
    '{"passed": true or false, "score": a number from 0 to 1, "reason": "one short sentence for the user"}. '
    "Fail it when any rubric point is clearly violated; name the problem and where it is in the reason."
)
RUBRICS = {
    TaskKind.TEXT_TO_IMAGE: "Does the image show what the prompt asks for? Is there unwanted text, a watermark or "
                            "a signature? Are hands, faces and bodies anatomically right (no extra fingers)?",
    TaskKind.EDIT: "Was the requested change made, and the rest of the photo kept? Is there a watermark or "
                   "unwanted text? Are hands and faces right?",
    TaskKind.INPAINT: "Was the masked area changed as the prompt asks (for example, was the object removed), "
                      "with no visible seam, and the rest of the photo kept?",
    TaskKind.REMOVE_BACKGROUND: "Is the subject complete and cleanly cut out, with no leftover background?",
    TaskKind.UPSCALE: "Is the enlarged image sharp and faithful, without invented details or artefacts?",
    TaskKind.VIDEO_FRAME: "Does this frame show what the prompt asks for, without artefacts or watermarks?",
}

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vision-judge")


def configured() -> bool:
    return bool(settings.REVIEW_VISION_URL)


def _data_uri(image: Image.Image) -> str:
    image = image.convert("RGB")
    if max(image.size) > EDGE:
        image.thumbnail((EDGE, EDGE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def request_body(image: Image.Image, request: ReviewRequest) -> dict:
    rubric = RUBRICS.get(request.task, RUBRICS[TaskKind.TEXT_TO_IMAGE])
    return {
        "model": settings.REVIEW_VISION_MODEL,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": [
                {"type": "text", "text": f"Task: {request.task}. Prompt: {request.prompt!r}. Rubric: {rubric}"},
                {"type": "image_url", "image_url": {"url": _data_uri(image)}},
            ]},
        ],
    }


def parse_answer(payload: dict) -> tuple[bool, float, str]:
    content = payload["choices"][0]["message"]["content"]
    if isinstance(content, list):  # some servers answer content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    match = re.search(r"\{.*\}", content, flags=re.DOTALL)
    verdict = json.loads(match.group(0) if match else content)
    passed = verdict["passed"]
    if not isinstance(passed, bool):
        raise ValueError("passed is not a boolean")
    score = float(verdict.get("score", 1.0 if passed else 0.0))
    reason = " ".join(str(verdict.get("reason", "")).split())[:300] or (
        "The visual check found no problem." if passed else "The visual check found a problem.")
    return passed, min(1.0, max(0.0, score)), reason


def _ask(body: dict, budget: float) -> dict:
    headers = {"Authorization": f"Bearer {settings.REVIEW_VISION_API_KEY}"} if settings.REVIEW_VISION_API_KEY else {}
    url = settings.REVIEW_VISION_URL.rstrip("/") + "/chat/completions"
    with httpx.Client(timeout=httpx.Timeout(budget, connect=min(10.0, budget))) as client:
        response = client.post(url, json=body, headers=headers)
        response.raise_for_status()
        return response.json()


class VisionJudge:
    name = NAME
    label = "Visual check"
    stage = Stage.QUALITY

    def __call__(self, image: Image.Image, request: ReviewRequest, limits: dict) -> JudgeResult:
        started = time.perf_counter()

        def not_reviewed(reason: str) -> JudgeResult:
            return JudgeResult(name=NAME, passed=True, score=0.0, reason=reason, reviewed=False,
                               seconds=time.perf_counter() - started)

        if not configured():
            return not_reviewed("The visual check is not set up on this server.")
        budget = float(settings.REVIEW_VISION_TIMEOUT_SECONDS)
        # The whole exchange, not each read, must fit the budget: the request runs in a thread.
        future = _pool.submit(_ask, request_body(image, request), budget)
        try:
            payload = future.result(timeout=budget)
            passed, score, reason = parse_answer(payload)
        except FutureTimeout:
            return not_reviewed("The visual check took too long, so it gave no verdict.")
        except Exception:
            return not_reviewed("The visual check could not be completed.")
        return JudgeResult(name=NAME, passed=passed, score=score, reason=reason,
                           seconds=time.perf_counter() - started)


judge = VisionJudge()
