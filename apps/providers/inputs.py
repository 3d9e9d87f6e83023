"""Input images for providers that take them inline: a data: URI, typed by the file's magic bytes."""

import base64


def image_content_type(content: bytes) -> str:
    if content.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def data_uri(content: bytes) -> str:
    return f"data:{image_content_type(content)};base64,{base64.b64encode(content).decode()}"
