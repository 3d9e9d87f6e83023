"""Generations that start from the user's own photo, and identical requests served from the cache."""

import io

import pytest
from PIL import Image, ImageStat

from apps.core.exceptions import NotFoundError
from apps.credits.models import LedgerEntry
from apps.credits.selectors import credits_balance_get
from apps.generations import services
from apps.generations.exceptions import InvalidGenerationError
from apps.generations.models import Generation, GenerationImage, Status
from apps.generations.services import dispatch
from apps.media.models import Kind
from apps.media.storage import file_read
from apps.providers import router
from apps.providers.types import JobState, ProviderOutput, ProviderStatus
from tests.media.factories import UploadFactory
from tests.media.images import encode, mask_image

pytestmark = pytest.mark.usefixtures("catalog")


def run(generation: Generation) -> Generation:
    services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    return generation


def output(generation: Generation, index: int = 0) -> Image.Image:
    return Image.open(io.BytesIO(file_read(generation.images.get(index=index).file)))


@pytest.fixture
def photo(user):
    return UploadFactory(owner=user, width=400, height=300)


def test_the_same_seeded_request_twice_makes_one_provider_call(user, monkeypatch):
    calls = []
    original = router.run
    monkeypatch.setattr(router, "run", lambda **kwargs: calls.append(kwargs) or original(**kwargs))
    first = run(services.generation_create(user=user, model_slug="offline-sketch", prompt="a quiet bay", seed=11))
    second = services.generation_create(user=user, model_slug="offline-sketch", prompt="a quiet bay", seed=11)
    assert len(calls) == 1
    assert (second.status, second.cached_from_id, second.quoted_credits) == (Status.SUCCEEDED, first.id, 0)
    assert [i.file for i in second.images.all()] == [i.file for i in first.images.all()]  # shared, not copied
    assert LedgerEntry.objects.filter(generation=second).count() == 0
    assert credits_balance_get(user=user) == 99


def test_without_an_explicit_seed_or_with_other_settings_nothing_is_reused(user):
    run(services.generation_create(user=user, model_slug="offline-sketch", prompt="a quiet bay", seed=11))
    unseeded = services.generation_create(user=user, model_slug="offline-sketch", prompt="a quiet bay")
    other = services.generation_create(user=user, model_slug="offline-sketch", prompt="a quiet bay", seed=12)
    assert (unseeded.cached_from_id, unseeded.status) == (None, Status.QUEUED)
    assert (other.cached_from_id, other.status) == (None, Status.QUEUED)


def test_a_cached_result_can_carry_a_price(user, settings):
    settings.RESULT_CACHE_PRICE = 1
    run(services.generation_create(user=user, model_slug="offline-sketch", prompt="a quiet bay", seed=11))
    cached = services.generation_create(user=user, model_slug="offline-sketch", prompt="a quiet bay", seed=11)
    assert list(LedgerEntry.objects.filter(generation=cached).values_list("kind", "amount").order_by("id")) == [
        ("reserve", -1), ("capture", 0),
    ]
    assert credits_balance_get(user=user) == 98


def test_inpainting_repaints_only_under_the_mask(user, photo):
    mask = UploadFactory(owner=user, kind=Kind.MASK, photo_id=photo.id,
                         content=encode(mask_image(400, 300, box=(200, 0, 400, 300))))
    generation = run(services.generation_create(
        user=user, model_slug="offline-edit", prompt="stars", seed=3, image_upload_id=photo.id, mask_upload_id=mask.id,
    ))
    assert generation.status == Status.SUCCEEDED, generation.error_message
    assert (generation.width, generation.height) == (1184, 880)  # 4:3, the photo's shape, at a megapixel
    result = output(generation).convert("RGB")
    original = Image.open(io.BytesIO(file_read(photo.file))).convert("RGB").resize(result.size)
    left, right = (0, 0, 580, 880), (600, 0, 1184, 880)
    assert ImageStat.Stat(_difference(result.crop(left), original.crop(left))).mean[0] < 1
    assert ImageStat.Stat(_difference(result.crop(right), original.crop(right))).mean[0] > 5


def _difference(a, b):
    from PIL import ImageChops

    return ImageChops.difference(a, b).convert("L")


def test_upscale_doubles_the_photo_and_cutout_makes_a_transparent_background(user, photo):
    upscaled = run(services.generation_create(user=user, model_slug="offline-upscale", prompt="", tier="2x",
                                              image_upload_id=photo.id))
    assert upscaled.status == Status.SUCCEEDED, upscaled.error_message
    assert output(upscaled).size == (800, 600)
    cutout = run(services.generation_create(user=user, model_slug="offline-cutout", prompt="", image_upload_id=photo.id))
    assert cutout.status == Status.SUCCEEDED, cutout.error_message
    image = output(cutout)
    assert image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0
    assert credits_balance_get(user=user) == 98


@pytest.mark.parametrize(
    "slug, fields, field",
    [
        ("offline-upscale", {}, "image"),
        ("offline-sketch", {"image": True}, "image"),
        ("offline-cutout", {"image": True, "mask": True}, "mask"),
        ("offline-edit", {"image": True, "references": 5}, "references"),
    ],
)
def test_inputs_the_model_cannot_take_are_refused(user, photo, slug, fields, field):
    mask = UploadFactory(owner=user, kind=Kind.MASK, photo_id=photo.id,
                         content=encode(mask_image(400, 300, box=(0, 0, 100, 100))))
    with pytest.raises(InvalidGenerationError) as raised:
        services.generation_create(
            user=user, model_slug=slug, prompt="x", image_upload_id=photo.id if fields.get("image") else None,
            mask_upload_id=mask.id if fields.get("mask") else None,
            reference_upload_ids=[photo.id] * fields.get("references", 0),
        )
    assert raised.value.extra["field"] == field
    assert Generation.objects.count() == 0


def test_another_users_photo_is_not_found(user, other_user):
    theirs = UploadFactory(owner=other_user)
    with pytest.raises(NotFoundError):
        services.generation_create(user=user, model_slug="offline-edit", prompt="x", image_upload_id=theirs.id)
    assert Generation.objects.count() == 0


def test_an_edit_that_returns_the_photo_unchanged_is_not_charged(user, photo):
    generation = services.generation_create(user=user, model_slug="offline-edit", prompt="x", image_upload_id=photo.id)
    services.generation_claim(generation.id)
    unchanged = Image.open(io.BytesIO(file_read(photo.file))).resize((generation.width, generation.height))
    dispatch.generation_mark_running(generation.id, route_index=0, route=generation.catalog_model.route_list[0])
    # The exact stored bytes back, as a lazy provider might answer:
    same = ProviderOutput(content=file_read(photo.file))
    services.generation_apply_result(generation_id=generation.id, status=ProviderStatus(JobState.SUCCEEDED, outputs=(same,)))
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.FAILED, "invalid_output")
    assert GenerationImage.objects.filter(generation=generation).count() == 0
    assert credits_balance_get(user=user) == 100
    assert unchanged.size == (1184, 880)
