from django.apps import AppConfig


class GalleryConfig(AppConfig):
    name = "apps.gallery"
    verbose_name = "Gallery"
