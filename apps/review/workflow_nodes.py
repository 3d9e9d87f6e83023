"""The `review` workflow node: the offline judges on each image that comes in, then either pass on
the images whose verdict is at least amber (or green), or keep the best-scored N. Registered from
ReviewConfig.ready(); its verdicts are in the node's meta and on the run page."""

from apps.media.storage import file_read
from apps.workflows.engine.registry import register_node_type
from apps.workflows.engine.types import Field, NodeFailed, NodeResult, NodeType, Port, PortType

from .contract import ReviewRequest, TaskKind, verdict_of
from .requests import image_open
from .services import policy_get, policy_judges, policy_limits

IMAGE = PortType.IMAGE
OFFLINE = ("safety", "format", "quality")
_RANK = {"green": 0, "amber": 1, "red": 2, "not_reviewed": 1}


def review_images(refs: list[dict], *, prompt: str = "") -> list[dict]:
    """Each image's verdict, quality score and judges' results, in the order given."""
    policy = policy_get()
    judges = [j for j in policy_judges(policy, TaskKind.TEXT_TO_IMAGE) if j.name in OFFLINE]
    limits = policy_limits(policy)
    request = ReviewRequest(prompt=prompt, task=TaskKind.TEXT_TO_IMAGE)
    reviewed = []
    for ref in refs:
        try:
            pixels = image_open(file_read(ref["file"]))
        except (OSError, KeyError, ValueError) as error:
            raise NodeFailed("An input image could not be read.", code="input_unreadable", retry=False,
                             fallback=False) from error
        results = [judge(pixels, request, limits).as_dict() for judge in judges]
        quality = next((r["score"] for r in results if r["name"] == "quality"), 0.0)
        reviewed.append({"sha256": ref.get("sha256", ""), "verdict": verdict_of(results).value,
                         "quality_score": quality, "judges": results})
    return reviewed


class ReviewNode(NodeType):
    key = "review"
    label = "Review"
    category = "Quality"
    description = ("Check each image (safety, format, technical quality): pass on only those good enough, "
                   "or keep the best-scored.")
    queue = "media"
    # Verdicts follow the staff's current thresholds: never reuse an earlier run's.
    cacheable = False
    inputs = (Port("image", IMAGE, "Images", multiple=True),)
    outputs = (Port("image", IMAGE, "Images"),)
    fields = (
        Field("mode", "Keep", "choice", default="gate", choices=(
            ("gate", "Every image good enough"), ("best", "The best-scored images"),
        )),
        Field("at_least", "Good enough means", "choice", default="amber", choices=(
            ("amber", "Amber or green (at most one check failed)"), ("green", "Green (every check passed)"),
        )),
        Field("keep", "How many (best-scored)", "int", default=1, min=1, max=16),
    )

    def run(self, ctx):
        refs = ctx.inputs.get("image") or []
        if not refs:
            raise NodeFailed("No image came in.", code="no_input", retry=False, fallback=False)
        reviewed = review_images(refs)
        ranked = sorted(range(len(refs)), key=lambda i: (_RANK[reviewed[i]["verdict"]],
                                                         -reviewed[i]["quality_score"], i))
        if ctx.params["mode"] == "best":
            kept = [refs[i] for i in ranked if reviewed[i]["verdict"] != "red"][: ctx.params["keep"]]
        else:
            worst = _RANK[ctx.params["at_least"]]
            kept = [ref for ref, review in zip(refs, reviewed) if _RANK[review["verdict"]] <= worst]
        meta = {"reviews": reviewed, "verdict": min((r["verdict"] for r in reviewed), key=lambda v: _RANK[v])}
        if not kept:
            reasons = sorted({j["reason"] for r in reviewed for j in r["judges"] if not j["passed"]})
            raise NodeFailed("No image passed its review: " + " ".join(reasons)[:240], code="review_failed",
                             retry=False, fallback=False)
        return NodeResult({"image": kept}, meta=meta)


register_node_type(ReviewNode())
