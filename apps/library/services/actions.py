"""Per-image actions that start something new from a generated image: vary it (the same request,
a new seed) or bring it in as a photo (to edit, upscale, cut out or animate on the photo page)."""

from django.db import transaction

from apps.generations import services as generation_services
from apps.media import services as media_services
from apps.media.storage import file_read

from ..exceptions import InvalidItemError
from ..refs import ItemRef
from ..selectors import library_item_get


def library_image_vary(*, user, item: ItemRef):
    """Submits the image's generation again, as it was asked for, with a new random seed."""
    found = library_item_get(user=user, item=item)  # another user's: 404 before anything else
    if found.generation is None:
        raise InvalidItemError("Only a generated image can be varied.", code="not_generated")
    generation = found.generation
    params = generation.params
    fields = {
        "prompt": generation.prompt, "negative_prompt": generation.negative_prompt,
        "aspect_ratio": params.get("aspect_ratio") or None, "tier": params.get("tier") or None,
        "num_images": params.get("num_images", 1),
    }
    if params.get("duration_seconds"):
        fields["duration_seconds"] = params["duration_seconds"]
    inputs = params.get("inputs") or {}  # an edit: the same photo, mask and references
    if inputs.get("image"):
        fields["image_upload_id"] = inputs["image"]
    if inputs.get("mask"):
        fields["mask_upload_id"] = inputs["mask"]
    if inputs.get("references"):
        fields["reference_upload_ids"] = tuple(inputs["references"])
    if params.get("strength") is not None:
        fields["strength"] = params["strength"]
    return generation_services.generation_create(user=user, model_slug=generation.catalog_model.slug, **fields)


def library_image_to_photo(*, user, item: ItemRef, operation: str = ""):
    """A generated image as a new photo of the user's (validated and cleaned like any upload); a
    photo is itself. With an `operation` (upscale, remove_background …) that is applied to it too,
    and the result returned."""
    found = library_item_get(user=user, item=item)
    if found.is_video:
        raise InvalidItemError("A clip cannot be opened as a photo.", code="not_an_image")
    if found.upload is not None:
        photo = found.upload
    else:
        name = f"{(found.prompt or 'Generated image')[:180]}.{found.file.rsplit('.', 1)[-1]}"
        with transaction.atomic():
            photo = media_services.upload_create(user=user, content=file_read(found.file), filename=name)
    if operation:
        return media_services.upload_apply_operation(user=user, upload_id=photo.id, operation=operation, params={})
    return photo
