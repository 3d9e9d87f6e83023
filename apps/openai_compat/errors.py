"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

from apps.core.exceptions import ApplicationError

# Darkroom's field names → the OpenAI parameter they come from.
PARAMS = {"num_images": "n", "aspect_ratio": "size", "tier": "size", "image_upload_id": "image",
          "mask_upload_id": "mask", "reference_upload_ids": "image", "model": "model", "prompt": "prompt",
          "negative_prompt": "prompt", "seed": None, "strength": None}


class OpenAIError(ApplicationError):
    """An error worded for OpenAI clients, with the parameter it is about."""

    def __init__(self, message: str, *, status: int = 400, code: str | None = None, param: str | None = None,
                 type: str | None = None):
        self.http_status = status
        self.param = param
        self.type = type
        super().__init__(message, code=code or "invalid_request_error")


def _type_for(status: int, code: str) -> str:
    if status == 402:
        return "insufficient_quota"
    if status == 429:
        return "rate_limit_exceeded"
    if code == "moderation_blocked":
        return "image_generation_user_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(*, status: int, message: str, code: str | None, param: str | None = None, type: str | None = None) -> dict:
    return {"error": {"message": message, "type": type or _type_for(status, code or ""), "param": param, "code": code}}


def from_application_error(exc: ApplicationError) -> tuple[int, dict]:
    """(status, body) for a domain error. Refused parameters are a 400, as OpenAI answers them."""
    if isinstance(exc, OpenAIError):
        return exc.http_status, error_body(status=exc.http_status, message=exc.message, code=exc.code,
                                           param=exc.param, type=exc.type)
    status = 400 if exc.http_status == 422 else exc.http_status
    param = PARAMS.get(exc.extra.get("field")) if exc.extra.get("field") else None
    return status, error_body(status=status, message=exc.message, code=exc.code, param=param)
