"""Accessibility: distinct names for card links, password errors under the password field, secondary
text that passes WCAG AA contrast, and API docs that look like (and lead back to) the studio."""

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory

ROOT = Path(__file__).resolve().parents[2]
CSS = (ROOT / "static" / "css" / "darkroom.css").read_text()
PASSWORD = "a-Strong-pass-123"


@pytest.mark.usefixtures("catalog")
def test_each_card_link_is_named_after_its_prompt(user):
    client = Client()
    client.force_login(user)
    prompts = ["a red fox asleep in the snow", "a lighthouse in a storm"]
    for prompt in prompts:
        GenerationFactory(owner=user, prompt=prompt)
    page = client.get("/images/").content.decode()
    names = re.findall(r'<a class="card-media"[^>]*aria-label="([^"]*)"', page)
    assert sorted(names) == sorted(f"Open: {p}" for p in prompts)


def field_and_errors(page: str, field_id: str) -> tuple[str, str]:
    """The input with `field_id` and everything between it and the next input or button."""
    match = re.search(r'(<input[^>]*id="%s"[^>]*>)(.*?)(?=<input|<button)' % field_id, page, re.S)
    assert match, f"no #{field_id} in the page"
    return match.group(1), match.group(2)


@pytest.mark.django_db
def test_sign_up_password_errors_sit_under_the_password_fields():
    page = Client().post("/accounts/signup/", {"email": "new@example.com", "password1": "short",
                                               "password2": "different"}).content.decode()
    first, after_first = field_and_errors(page, "id_password1")
    assert 'aria-invalid="true"' in first
    assert "id_password1_error" in re.search(r'aria-describedby="([^"]*)"', first).group(1).split()
    assert '<ul class="errorlist" id="id_password1_error">' in after_first
    assert "too short" in after_first
    # Nothing about the password shows above the fields.
    before = page[:page.index('id="id_email"')]
    assert "errorlist" not in before


@pytest.mark.django_db
def test_a_wrong_password_is_reported_under_the_password_field():
    UserFactory(email="someone@example.com")
    page = Client().post("/accounts/login/", {"login": "someone@example.com", "password": "wrong-one-123"})
    page = page.content.decode()
    _, after = field_and_errors(page, "id_password")
    assert "not correct" in after and 'role="alert"' in after
    assert "not correct" not in page[:page.index('id="id_password"')]


def hex_colour(value: str) -> tuple[float, float, float]:
    value = value.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return tuple(int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))


def luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in hex_colour(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_ratio_is_computed_as_wcag_defines_it():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48


def css_variables() -> dict[str, str]:
    root = re.search(r":root\s*{(.*?)}", CSS, re.S).group(1)
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\s*;", root))


@pytest.mark.parametrize("text", ["muted", "text", "accent-2", "danger", "ok"])
@pytest.mark.parametrize("background", ["bg", "panel", "panel-2"])
def test_secondary_text_passes_wcag_aa_on_every_background(text, background):
    colours = css_variables()
    ratio = contrast(colours[text], colours[background])
    assert ratio >= 4.5, f"--{text} on --{background}: {ratio:.2f}:1"


def test_the_placeholder_text_passes_wcag_aa():
    colours = css_variables()
    placeholder = re.search(r"::placeholder\s*{[^}]*color:\s*(#[0-9a-fA-F]{3,6}|var\(--([\w-]+)\))", CSS)
    assert placeholder, "the placeholder colour is set in the stylesheet"
    colour = colours[placeholder.group(2)] if placeholder.group(2) else placeholder.group(1)
    assert contrast(colour, colours["panel-2"]) >= 4.5


@pytest.mark.django_db
def test_the_api_docs_look_like_the_studio_and_lead_back_to_it():
    response = Client().get("/api/v1/docs")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<title>Darkroom API · Docs</title>" in page
    assert re.search(r'<a[^>]*href="/"[^>]*>[^<]*Back to the studio', page)
    assert '/static/css/api-docs.css' in page
    docs_css = (ROOT / "static" / "css" / "api-docs.css").read_text()
    assert "#0f1013" in docs_css and "#e0a84f" in docs_css  # the studio's background and accent
