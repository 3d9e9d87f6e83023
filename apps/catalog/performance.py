"""What the catalogue knows of how each model performs, for the automatic model choice.

Two small functions, each with a safe fallback, so better sources plug in here and nowhere else:
learned latency (from finished generations' history) and the review pass rate (the share of
results that pass review). Until those exist: the catalogue's typical run time, and no rate.
"""

from .models import CatalogModel


def model_latency_p50(slug: str) -> float | None:
    """The model's median seconds from start to result; None when nothing is known."""
    seconds = CatalogModel.objects.filter(slug=slug).values_list("typical_seconds", flat=True).first()
    return float(seconds) if seconds else None


def model_pass_rate(slug: str) -> float | None:
    """The share (0–1) of the model's results that pass review; None when nothing is known."""
    return None


def preset_version_pass_rate(version_id) -> float | None:
    """The share (0–1) of a prompt preset version's results that pass review; None when unknown."""
    return None


def preset_version_keep_rate(version_id) -> float | None:
    """The share (0–1) of a prompt preset version's results people kept or starred; None when unknown."""
    return None
