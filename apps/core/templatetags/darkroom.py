from django import template

from apps.core.files import signed_file_url

register = template.Library()


@register.filter
def signed_url(path: str) -> str:
    return signed_file_url(path) if path else ""


@register.filter
def percent(value: float) -> int:
    return int(round((value or 0) * 100))
