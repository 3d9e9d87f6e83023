from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "apps.catalog"
    verbose_name = "Model catalogue"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from .models import CatalogModel
        from .selectors import catalog_model_names_clear

        # This process's copy of the model names is dropped on any change it makes (others wait out
        # its short lifetime).
        for signal in (post_save, post_delete):
            signal.connect(lambda **kwargs: catalog_model_names_clear(), sender=CatalogModel, weak=False,
                           dispatch_uid=f"catalog.names_clear.{signal is post_save}")
