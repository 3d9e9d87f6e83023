"""The judges, by name. Judges register here when `apps.review.judges` is imported (in ready())."""

from apps.core.registry import Registry

from .contract import Judge, TaskKind

judges: Registry[Judge] = Registry("judge")

# Which judges run for each kind of task unless staff change it (ReviewPolicy.judges_by_task).
DEFAULT_JUDGES: dict[str, list[str]] = {
    TaskKind.TEXT_TO_IMAGE: ["safety", "format", "quality"],
    TaskKind.EDIT: ["safety", "format", "quality"],
    TaskKind.INPAINT: ["safety", "format", "quality", "fidelity"],
    TaskKind.REMOVE_BACKGROUND: ["safety", "format", "fidelity"],
    TaskKind.UPSCALE: ["safety", "format", "quality", "fidelity"],
    TaskKind.VIDEO_FRAME: ["safety", "format"],
}

# Thresholds staff can change (ReviewPolicy.thresholds); judges read them from `limits`.
DEFAULT_LIMITS: dict[str, float] = {
    "nsfw_max": 0.6,            # safety: open_nsfw probability at or above this is flagged
    "quality_min": 0.45,        # quality: the combined score must reach this
    "sharpness_min": 0.35,      # quality: edge crispness, 0..1
    "noise_max": 6.0,           # quality: estimated noise, in grey levels (of 255)
    "clipped_max": 0.35,        # quality: share of pixels crushed to black or blown to white
    "outside_ssim_min": 0.85,   # fidelity: structural similarity outside the mask
    "inside_change_min": 0.03,  # fidelity: mean change inside the mask, 0..1
    "matte_soft_max": 0.12,     # fidelity: share of half-transparent pixels in a cut-out
    "upscale_ssim_min": 0.8,    # fidelity: the upscale shrunk back vs the source
    "shape_drift_max": 0.02,    # format: aspect-ratio drift allowed
}


def judges_for(task: str, *, configured: dict | None = None) -> list[Judge]:
    names = (configured or {}).get(str(task)) or DEFAULT_JUDGES.get(task) or DEFAULT_JUDGES[TaskKind.TEXT_TO_IMAGE]
    return [judges.get(name) for name in names if name in judges]
