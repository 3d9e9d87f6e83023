import warnings

from django.apps import AppConfig
from PIL import Image


class MediaConfig(AppConfig):
    name = "apps.media"
    verbose_name = "Media"

    def ready(self):
        # Process-wide: an image past Pillow's own bomb threshold is an error, never a warning.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        from apps.core.body_limit import file_routes_add

        from . import workflow_nodes  # noqa: F401  (registers the local-image workflow node types)

        file_routes_add("media:upload", "media:mask_create", "api:upload_create")
