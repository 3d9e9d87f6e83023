from django.apps import AppConfig


class OpenAICompatConfig(AppConfig):
    name = "apps.openai_compat"
    verbose_name = "OpenAI-compatible API"

    def ready(self):
        from apps.core import events
        from apps.core.body_limit import file_routes_add
        from apps.core.middleware import API_ERROR_BODIES, OWN_SURROGATE_CHECKS

        from .errors import error_body
        from .services import stream_preview_keep

        API_ERROR_BODIES["/v1/"] = lambda status, detail, code: error_body(status=status, message=detail, code=code)
        # Partial images for `stream: true`, kept as the progress is applied (as the live card is).
        events.subscribe(events.GenerationProgressed, stream_preview_keep, in_transaction=True,
                         when=lambda event: event.preview is not None)
        OWN_SURROGATE_CHECKS.add("/v1/")  # its schema refuses them per field, with the field as `param`
        file_routes_add("openai:images_edit")
