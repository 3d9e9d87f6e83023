"""What every operation of the JSON API shares, written into its OpenAPI schema once: the error
body `{detail, code}` for any 4xx/5xx, and the `Idempotency-Key` header on POSTs."""

from .idempotency import HEADER, MAX_KEY_LENGTH

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, in words safe to show a person."},
        "code": {"type": "string", "description": "A stable machine-readable code, e.g. `not_found`."},
    },
    "required": ["detail", "code"],
}

IDEMPOTENCY_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "A unique key (e.g. a UUID v4) that makes retrying this request safe: the same key with the same "
        "request returns the first response (header `Idempotent-Replayed: true`) without doing the work "
        "again; with a different request it is a 409. Keys are yours alone and expire after 24 hours."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]+$"},
}


def document_api_conventions(schema: dict, *, error_schema: dict = ERROR_SCHEMA, idempotency: bool = True) -> dict:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(error_schema["title"], error_schema)
    error_ref = {"$ref": f"#/components/schemas/{error_schema['title']}"}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in (("4XX", "Refused: the body says why."), ("5XX", "Our side failed.")):
                # Explicit codes (e.g. a documented 404) take precedence over a range.
                responses.setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": error_ref}}}
                )
            if idempotency and method == "post":
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == HEADER and p.get("in") == "header" for p in parameters):
                    parameters.append(IDEMPOTENCY_PARAMETER)
    return schema
