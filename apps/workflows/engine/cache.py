"""Node cache keys: a node type's identity, its settings and the content of what flows in.

Two node runs with the same key would compute the same thing, so a later one may reuse the
earlier one's outputs (ComfyUI's input-signature cache, kept in the database and per user).
Inputs are fingerprinted by content (each image's SHA-256), never by row ids, so a re-upload of
the same photo or the same result reached by another path still matches.
"""

import hashlib
import json


def value_fingerprint(value):
    """An image list → its SHA-256s in order; an image → its SHA-256; text → the SHA-256 of its UTF-8."""
    if isinstance(value, list):
        return [item.get("sha256", "") if isinstance(item, dict) else value_fingerprint(item) for item in value]
    if isinstance(value, dict) and "sha256" in value:
        return value["sha256"]
    if isinstance(value, str):
        return hashlib.sha256(value.encode()).hexdigest()
    return value


def cache_key(*, type_key: str, cache_version: int, params: dict, fallback_models: list[str], inputs: dict,
              exposed_value=None) -> str:
    payload = {
        "type": type_key,
        "v": cache_version,
        "params": params,
        "fallback_models": fallback_models,
        "inputs": {port: value_fingerprint(value) for port, value in sorted(inputs.items())},
        "exposed": value_fingerprint(exposed_value),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
