"""The photo studio: one page per thing a model can do to a photo — edit it from an instruction,
upscale it, cut the subject out, animate it into a clip, swap a face onto it. Each capability names
the catalogue models that serve it; a page is reached with a photo preselected
(`/studio/<capability>/?photo=<upload id>` or `?image=<generated image id>`).

Reads here are owner-scoped; `studio_submit` is the one write: a generated image is first kept as a
library photo, then the generation is submitted like any other (validated, quoted, reserved)."""

from dataclasses import dataclass

from apps.catalog.models import CatalogModel
from apps.catalog.selectors import catalog_model_availability, catalog_model_list
from apps.core.exceptions import NotFoundError

from .models import Generation, GenerationImage


@dataclass(frozen=True)
class Capability:
    key: str
    title: str
    blurb: str
    capability: str  # the catalogue capability its models have
    prompt: str = ""  # the prompt field's label ("" when the models take none)
    prompt_required: bool = False
    needs_face: bool = False


CAPABILITIES = {
    c.key: c for c in (
        Capability("edit", "Edit with words", "Say what to change — “make the mug blue”, “put it on a beach” — "
                   "and an edit model changes just that, keeping the rest of the photo.", "image-to-image",
                   prompt="What to change", prompt_required=True),
        Capability("upscale", "Upscale", "Enlarge the photo 2× or 4×. AI upscalers restore sharp edges and "
                   "texture; the offline one resamples.", "upscale"),
        Capability("cutout", "Cut out", "Cut the subject out onto a transparent background, ready for a "
                   "white backdrop or a new scene.", "remove-background"),
        Capability("animate", "Image to video", "Bring the photo to life as a short clip, moving as you "
                   "describe. Priced per second of video.", "image-to-video", prompt="How it should move"),
        Capability("face-swap", "Face swap", "Put the face from a second photo onto the person in this one.",
                   "face-swap", needs_face=True),
    )
}


def capability_get(key: str) -> Capability:
    if key not in CAPABILITIES:
        raise NotFoundError("There is no such tool.")
    return CAPABILITIES[key]


def capability_models(capability: Capability) -> list[tuple[CatalogModel, object]]:
    """The models that serve a capability, with their availability; instruction editors first."""
    models = [(model, catalog_model_availability(model)) for model in catalog_model_list()
              if model.can(capability.capability)]
    if capability.key == "edit":
        models.sort(key=lambda pair: not pair[0].can("edit"))
    return models


def tier_prices(model: CatalogModel) -> list[str]:
    """Each tier's price in plain words: per image, or per second of video."""
    unit = "per second" if model.kind == CatalogModel.Kind.VIDEO else "per image"
    return [f"{tier['label']}: {tier['price']} credit{'s' if tier['price'] != 1 else ''} {unit}"
            for tier in model.tiers]


def studio_image_get(*, user, image_id) -> GenerationImage:
    """One of the user's own generated still images."""
    image = (GenerationImage.objects.select_related("generation")
             .filter(pk=image_id, generation__owner=user).exclude(content_type__startswith="video/").first())
    if image is None:
        raise NotFoundError("Image not found.")
    return image


def studio_submit(*, user, capability: Capability, model_slug: str, photo_id=None, image_id=None,
                  face_id=None, prompt: str = "", tier: str | None = None,
                  duration_seconds: int | None = None) -> Generation:
    """Submit one capability's generation on a library photo (or a generated image, kept as one)."""
    from apps.media.services import upload_create
    from apps.media.storage import file_read

    from .exceptions import InvalidGenerationError
    from .services import generation_create

    model = CatalogModel.objects.filter(slug=model_slug).first()
    if model is None or not model.can(capability.capability):
        raise InvalidGenerationError(f"Choose one of the models for {capability.title.lower()}.",
                                     extra={"field": "model"})
    if capability.prompt_required and not prompt.strip():
        raise InvalidGenerationError("Say what to change in the photo.", extra={"field": "prompt"})
    if image_id and not photo_id:
        image = studio_image_get(user=user, image_id=image_id)
        photo_id = upload_create(user=user, content=file_read(image.file), filename="generated.png").pk
    if not photo_id:
        raise InvalidGenerationError("Choose a photo.", extra={"field": "image"})
    if capability.needs_face and not face_id:
        raise InvalidGenerationError("Choose the photo of the face to use.", extra={"field": "references"})
    return generation_create(
        user=user, model_slug=model.slug, prompt=prompt, tier=tier or None, image_upload_id=photo_id,
        reference_upload_ids=[face_id] if capability.needs_face else (),
        duration_seconds=duration_seconds if model.kind == CatalogModel.Kind.VIDEO else None,
    )
