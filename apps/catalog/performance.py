"""What the catalogue knows of how each model performs, for the automatic model choice.

Small functions, each with a safe fallback, so the sources plug in here and nowhere else: learned
latency (apps.ops, from finished generations' history; the catalogue's typical run time until a
model has enough of it) and the review pass rate (apps.review, the share of results whose quality
judge passed; None until a model has enough reviews).
"""

from apps.ops.selectors.latency import model_time_to_result
from apps.review.selectors import model_quality_pass_rate

from .models import CatalogModel


def model_latency_p50(slug: str) -> float | None:
    """The model's median seconds from submit to result; None when nothing is known."""
    seconds = CatalogModel.objects.filter(slug=slug).values_list("typical_seconds", flat=True).first()
    if seconds is None:
        return None
    return model_time_to_result(model_slug=slug, typical_seconds=seconds).p50


def model_pass_rate(slug: str) -> float | None:
    """The share (0–1) of the model's results that pass review; None when nothing is known."""
    return model_quality_pass_rate(slug)


def preset_version_pass_rate(version_id) -> float | None:
    """The share (0–1) of a prompt preset version's results that pass review; None when unknown."""
    return None


def preset_version_keep_rate(version_id) -> float | None:
    """The share (0–1) of a prompt preset version's results people kept or starred; None when unknown."""
    return None
