from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "apps.review"
    verbose_name = "Trust and review"

    def ready(self):
        from . import subscribers
        from .judges import register_builtin

        register_builtin()
        # A worker makes the safety classifier's session once, at start, not for the first image a
        # user waits on (the web processes never load it).
        from celery.signals import worker_process_init

        worker_process_init.connect(_warm_safety_judge, dispatch_uid="review-warm-safety", weak=False)
        from . import workflow_nodes  # noqa: F401  (registers the review node type)
        subscribers.subscribe()


def _warm_safety_judge(**kwargs) -> None:
    from .judges import safety

    try:
        safety.classifier()
    except Exception:  # a missing model shows on the first review instead, as a hidden image
        import logging

        logging.getLogger(__name__).exception("safety classifier could not be loaded")
