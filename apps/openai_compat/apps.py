from django.apps import AppConfig


class OpenAICompatConfig(AppConfig):
    name = "apps.openai_compat"
    verbose_name = "OpenAI-compatible API"

    def ready(self):
        from apps.core.middleware import API_ERROR_BODIES, OWN_SURROGATE_CHECKS

        from apps.generations.previews import preview_listeners

        from .errors import error_body
        from .services import stream_preview_keep

        API_ERROR_BODIES["/v1/"] = lambda status, detail, code: error_body(status=status, message=detail, code=code)
        OWN_SURROGATE_CHECKS.add("/v1/")  # its schema refuses them per field, with the field as `param`
        preview_listeners.append(stream_preview_keep)  # partial images for `stream: true`
        from apps.core.body_limit import file_routes_add

        file_routes_add("openai:images_edit")
