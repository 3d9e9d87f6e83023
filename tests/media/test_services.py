import hashlib
import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from apps.core.exceptions import NotFoundError
from apps.media import services
from apps.media.exceptions import (
    InvalidKindError,
    InvalidOperationError,
    MaskEmptyError,
    MaskPhotoRequiredError,
    MaskSizeMismatchError,
    NotAPhotoError,
    OperationFailedError,
    ResultTooLargeError,
)
from apps.media.models import Kind, Upload
from apps.media.storage import file_read
from apps.media.validation import mask_validate

from .factories import UploadFactory
from .images import encode, mask_image, photo, photo_bytes


def stored(path: str) -> Image.Image:
    return Image.open(io.BytesIO(file_read(path)))


def test_upload_create_stores_the_cleaned_original_and_its_facts(user, django_capture_on_commit_callbacks):
    content = photo_bytes(320, 240, "JPEG")
    with django_capture_on_commit_callbacks() as callbacks:
        upload = services.upload_create(user=user, content=content, filename="../../etc/Beach\x00 day.jpg")
    upload.refresh_from_db()
    data = file_read(upload.file)
    assert upload.file == f"uploads/{user.pk}/{upload.pk}/original.jpg"
    assert (upload.kind, upload.format, upload.width, upload.height) == ("photo", "JPEG", 320, 240)
    assert upload.sha256 == hashlib.sha256(data).hexdigest()
    assert upload.size_bytes == len(data)
    assert upload.original_name == "Beach  day.jpg"
    assert (upload.preview, upload.thumbnail, upload.blurhash, upload.derivatives_at) == ("", "", "", None)
    assert len(callbacks) == 1  # derivatives are made after commit


def test_derivatives_are_made_after_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload = UploadFactory(owner=user, width=2000, height=1000)
    upload.refresh_from_db()
    assert upload.preview == f"uploads/{user.pk}/{upload.pk}/preview.webp"
    assert upload.thumbnail == f"uploads/{user.pk}/{upload.pk}/thumb.webp"
    assert stored(upload.preview).size == (1536, 768)
    assert stored(upload.thumbnail).size == (512, 256)
    assert len(upload.blurhash) == 28 and upload.derivatives_at is not None


def test_making_derivatives_twice_changes_nothing(user):
    upload = UploadFactory(owner=user)
    first = services.upload_derivatives_make(upload_id=upload.pk)
    again = services.upload_derivatives_make(upload_id=upload.pk)
    assert (again.preview, again.thumbnail, again.blurhash, again.derivatives_at) == (
        first.preview,
        first.thumbnail,
        first.blurhash,
        first.derivatives_at,
    )
    assert services.upload_derivatives_make(upload_id="00000000-0000-0000-0000-000000000000") is None


def test_the_task_runs_the_service_and_is_idempotent(user):
    from apps.media.tasks import upload_derivatives_task

    upload = UploadFactory(owner=user)
    upload_derivatives_task.delay(upload_id=str(upload.pk))
    upload_derivatives_task.delay(upload_id=str(upload.pk))
    upload.refresh_from_db()
    assert upload.thumbnail and upload.blurhash
    assert upload_derivatives_task.acks_late is True


def test_an_unknown_kind_is_refused(user):
    with pytest.raises(InvalidKindError):
        services.upload_create(user=user, content=photo_bytes(), kind="avatar")


# ---------------------------------------------------------------- masks


def test_mask_validate_returns_8_bit_l_and_checks_size_and_emptiness():
    photo_image = photo(64, 48)
    mask = mask_validate(mask_image(64, 48, box=(10, 10, 20, 20), mode="RGB"), photo_image)
    assert mask.mode == "L" and mask.getextrema() == (0, 255)
    with pytest.raises(MaskSizeMismatchError) as caught:
        mask_validate(mask_image(48, 64, box=(1, 1, 5, 5)), photo_image)
    assert caught.value.message == "The mask is 48×64 pixels but the photo is 64×48; they must match."
    assert caught.value.http_status == 422
    with pytest.raises(MaskEmptyError) as caught:
        mask_validate(mask_image(64, 48), photo_image)
    assert caught.value.message == "The mask is empty: paint the area to change first."
    assert mask_validate(mask_image(64, 48), photo_image, allow_empty=True).getbbox() is None


def test_a_transparent_painted_layer_counts_as_black_where_unpainted():
    layer = Image.new("RGBA", (32, 32), (255, 255, 255, 0))  # white but fully transparent
    layer.paste((255, 255, 255, 255), (8, 8, 16, 16))
    mask = mask_validate(layer, photo(32, 32))
    assert mask.getbbox() == (8, 8, 16, 16)


def test_a_mask_is_stored_as_an_l_png_linked_to_its_photo(user):
    photo_upload = UploadFactory(owner=user, width=64, height=48, fmt="JPEG")
    content = encode(mask_image(64, 48, box=(5, 5, 30, 30), mode="RGBA"), "PNG")
    mask = services.upload_create(user=user, content=content, kind=Kind.MASK, photo_id=photo_upload.pk)
    image = stored(mask.file)
    assert (mask.kind, mask.format, mask.source_id) == ("mask", "PNG", photo_upload.pk)
    assert image.format == "PNG" and image.mode == "L" and image.size == (64, 48)
    assert mask.file.endswith("/original.png")


def test_mask_refusals(user, other_user):
    photo_upload = UploadFactory(owner=user, width=64, height=48)
    wrong = encode(mask_image(32, 32, box=(1, 1, 5, 5)), "PNG")
    with pytest.raises(MaskSizeMismatchError):
        services.upload_create(user=user, content=wrong, kind=Kind.MASK, photo_id=photo_upload.pk)
    empty = encode(mask_image(64, 48), "PNG")
    with pytest.raises(MaskEmptyError):
        services.upload_create(user=user, content=empty, kind=Kind.MASK, photo_id=photo_upload.pk)
    allowed = services.upload_create(
        user=user, content=empty, kind=Kind.MASK, photo_id=photo_upload.pk, allow_empty_mask=True
    )
    assert allowed.kind == "mask"
    with pytest.raises(MaskPhotoRequiredError):
        services.upload_create(user=user, content=empty, kind=Kind.MASK)
    with pytest.raises(NotFoundError):  # someone else's photo does not exist for this user
        services.upload_create(user=other_user, content=empty, kind=Kind.MASK, photo_id=photo_upload.pk)
    assert Upload.objects.filter(kind=Kind.MASK).count() == 1


# ---------------------------------------------------------------- operations


@pytest.mark.parametrize(
    "operation, params, size, fmt",
    [
        ("crop", {"aspect": "1:1"}, (240, 240), "JPEG"),
        ("crop", {"aspect": "16:9"}, (320, 180), "JPEG"),
        ("resize", {"long_edge": "512"}, (512, 384), "JPEG"),
        ("upscale", {"factor": "2"}, (640, 480), "JPEG"),
        ("upscale", {"factor": 4}, (1280, 960), "JPEG"),
        ("color", {"white_balance": "white_patch"}, (320, 240), "JPEG"),
        ("remove_background", {}, (320, 240), "PNG"),
        ("convert", {"format": "WEBP"}, (320, 240), "WEBP"),
    ],
)
def test_apply_operation_stores_a_new_photo(user, operation, params, size, fmt):
    source = UploadFactory(owner=user, width=320, height=240, fmt="JPEG")
    result = services.upload_apply_operation(
        user=user, upload_id=source.pk, operation=operation, params=params
    )
    image = stored(result.file)
    assert (result.kind, result.source_id, result.operation) == ("photo", source.pk, operation)
    assert (result.width, result.height, result.format) == (*size, fmt)
    assert image.size == size and image.format == fmt
    assert image.info.get("exif") is None
    assert result.sha256 == hashlib.sha256(file_read(result.file)).hexdigest()
    if operation == "remove_background":
        assert image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 0


def test_apply_operation_records_the_cleaned_parameters(user):
    source = UploadFactory(owner=user)
    result = services.upload_apply_operation(user=user, upload_id=source.pk, operation="upscale", params={})
    assert result.operation_params == {"factor": 2}


def test_an_oversized_result_is_refused_before_it_is_computed(user, settings):
    settings.MEDIA_MAX_PIXELS = 1_000_000
    source = UploadFactory(owner=user, width=320, height=240)
    with pytest.raises(ResultTooLargeError) as caught:
        services.upload_apply_operation(
            user=user, upload_id=source.pk, operation="upscale", params={"factor": 4}
        )
    assert caught.value.message == (
        "The result would be 1280×960 pixels, over the 1 MP limit. Start from a smaller photo or a smaller factor."
    )
    assert Upload.objects.count() == 1


def test_operation_refusals(user, other_user):
    source = UploadFactory(owner=user, width=64, height=48)
    with pytest.raises(InvalidOperationError):
        services.upload_apply_operation(user=user, upload_id=source.pk, operation="deepdream")
    with pytest.raises(InvalidOperationError, match="Upscale: Factor: not one of the choices"):
        services.upload_apply_operation(
            user=user, upload_id=source.pk, operation="upscale", params={"factor": 9}
        )
    with pytest.raises(NotFoundError):
        services.upload_apply_operation(user=other_user, upload_id=source.pk, operation="crop")
    mask = services.upload_create(
        user=user,
        content=encode(mask_image(64, 48, box=(1, 1, 9, 9)), "PNG"),
        kind=Kind.MASK,
        photo_id=source.pk,
    )
    with pytest.raises(NotAPhotoError):
        services.upload_apply_operation(user=user, upload_id=mask.pk, operation="crop")


def test_grabcut_on_a_uniform_photo_fails_clearly(user):
    blank = encode(Image.new("RGB", (64, 64), (128, 128, 128)), "PNG")
    source = services.upload_create(user=user, content=blank)
    with pytest.raises(OperationFailedError) as caught:
        services.upload_apply_operation(user=user, upload_id=source.pk, operation="remove_background")
    assert caught.value.message.startswith("Remove background (GrabCut) did not work on this photo:")


def test_files_stay_in_the_owners_folder(user):
    upload = UploadFactory(owner=user)
    assert default_storage.exists(upload.file)
    assert upload.file.startswith(f"uploads/{user.pk}/")


def test_derivatives_go_to_the_media_queue(settings):
    # With Redis (production, and these tests); embedded mode routes to "default", which its
    # in-process worker consumes.
    assert settings.CELERY_TASK_ROUTES["apps.media.tasks.upload_derivatives_task"] == {"queue": "media"}
