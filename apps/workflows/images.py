"""Image values as they flow between nodes, and whether a cached one can still be used.

An image port carries a list of image dicts: `sha256`, `width`, `height`, `file` (its storage
path) and `thumbnail` (may be ""), plus `upload_id` (a photo in the library) or
`generation_image_id` (an image a generation made).
"""

from apps.generations.models import GenerationImage
from apps.media.models import Upload


def image_refs(outputs: dict) -> list[dict]:
    return [
        ref for value in (outputs or {}).values() if isinstance(value, list) for ref in value if isinstance(ref, dict)
    ]


def image_refs_exist(outputs: dict, *, owner_id) -> bool:
    """True if every image the outputs name is still there (a deleted photo breaks a cache entry)."""
    refs = image_refs(outputs)
    upload_ids = {str(ref["upload_id"]) for ref in refs if ref.get("upload_id")}
    image_ids = {int(ref["generation_image_id"]) for ref in refs if ref.get("generation_image_id")}
    if upload_ids and Upload.objects.filter(owner_id=owner_id, pk__in=upload_ids, deleted_at=None).count() != len(upload_ids):
        return False
    return not image_ids or GenerationImage.objects.filter(
        generation__owner_id=owner_id, pk__in=image_ids, deleted_at=None, generation__deleted_at=None
    ).count() == len(image_ids)
