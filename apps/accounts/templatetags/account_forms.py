"""Helpers for the sign-up and sign-in forms (templates/allauth/elements/fields.html)."""

from django import template

register = template.Library()


@register.filter
def last_password_field(form) -> str:
    """The name of the form's last password field, under which errors about the whole form sit
    (a wrong email or password at sign-in); "" when it has none."""
    names = [field.name for field in form.visible_fields() if field.widget_type == "password"]
    return names[-1] if names else ""
