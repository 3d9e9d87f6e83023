"""The offline judges, registered by name (imported by ReviewConfig.ready()). A plug-in registers its
own with `apps.review.registry.judges.register(name)(judge)`."""

from ..registry import judges
from . import fidelity, format, quality, safety, vision


def register_builtin() -> None:
    for module in (safety, format, quality, fidelity, vision):
        if module.judge.name not in judges:
            judges.register(module.judge.name)(module.judge)
