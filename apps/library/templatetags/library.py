from django import template

from ..presenters import item_download_name, use_settings_url
from ..selectors import image_as_item

register = template.Library()


@register.filter
def settings_url(generation) -> str:
    return use_settings_url(generation)


@register.filter
def download_name(item) -> str:
    return item_download_name(item)


@register.simple_tag(takes_context=True)
def library_item(context, image, generation):
    """A generation's image as the library shows it (for the per-image actions)."""
    return image_as_item(image, generation, user=context["request"].user)


@register.simple_tag(takes_context=True)
def undo_state(context):
    """The "Deleted — Undo" banner's state after a deletion redirected here (None when it is over)."""
    from ..views import undo_from_query

    return undo_from_query(context["request"].GET)
