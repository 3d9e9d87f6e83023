from django import template

from apps.imaging.derivatives import blurhash_data_uri
from apps.imaging.operations import OPERATIONS

register = template.Library()


@register.filter
def blurhash_uri(blurhash: str) -> str:
    """A 32×32 PNG data URI drawn from a BlurHash, for a placeholder background ('' without one)."""
    return blurhash_data_uri(blurhash or "")


@register.filter
def operation_label(key: str) -> str:
    return OPERATIONS.get(key).label if key in OPERATIONS else key
