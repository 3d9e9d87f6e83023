"""Workflow node types that make images and clips with catalogue models: generate, edit/inpaint,
image-to-video (a `video` output: the clip, with its poster frame as thumbnail) and face swap;
each refuses to run while no catalogue model can do its work. Registered from
`GenerationsConfig.ready()`.

A generate node hands its work to a normal generation: `generation_create` validates, quotes and
holds the generation's own price (the engine hands back the node's share of the run's hold in the
same transaction), and the engine follows the generation until it ends (`follow`, polled by a
bounded task). The node is charged exactly what its generation was charged: the quote for the
images it delivered.
"""

import inspect

from apps.catalog import pricing
from apps.catalog.models import CatalogModel, nearest_aspect_ratio
from apps.core.exceptions import ApplicationError
from apps.credits.exceptions import InsufficientCreditsError, RateLimitedError
from apps.workflows.engine.registry import register_node_type
from apps.workflows.engine.types import (
    Field,
    FollowStatus,
    NodeFailed,
    NodePending,
    NodeResult,
    NodeType,
    Port,
    PortType,
)

from . import services
from .exceptions import InvalidGenerationError, ModelUnavailableError
from .models import Generation, Status

IMAGE, TEXT, VIDEO = PortType.IMAGE, PortType.TEXT, PortType.VIDEO
RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4", "16:9", "9:16", "21:9")
# Failure codes a later attempt with the same model may get past.
RETRYABLE_CODES = {"timeout", "provider_unavailable", "provider_error", "internal_error", "invalid_output", "engine_failure",
                   "provider_canceled"}
EDIT_NOT_READY = "Editing a photo with a model (edit, inpaint, reference) is not available on this server yet."
VIDEO_NOT_READY = "Making a video from an image is not available on this server yet."
FACE_SWAP_NOT_READY = "Face swap is not available on this server: no face-swap model is in the catalogue."
FACE_SWAP_MODEL = "face-swap"  # the catalogue's face-swap model, the node's default


def _models(kind: str, capabilities: tuple[str, ...] = ()):
    """Catalogue models of a kind that can do any of `capabilities` (all of the kind if none)."""

    def choices():
        rows = CatalogModel.objects.filter(kind=kind).order_by("sort_order", "label")
        return [
            (model.slug, model.label) for model in rows
            if not capabilities or any(c in (getattr(model, "capabilities", None) or ["text-to-image"]) for c in capabilities)
        ]

    return choices


def _model_field(kind: str = CatalogModel.Kind.IMAGE, capabilities: tuple[str, ...] = ("text-to-image",)) -> Field:
    return Field("model", "Model", "model", required=True, choices_fn=_models(kind, capabilities),
                 help="Tried first; the fallback models follow in order if it fails.")


def _tier_errors(params: dict) -> dict[str, str]:
    """A size tier the chosen model doesn't offer is refused on save (a fallback model that lacks it
    takes its own first size when it runs)."""
    tier = params.get("tier")
    model = CatalogModel.objects.filter(slug=params.get("model") or "").first()
    if not tier or model is None or model.tier(tier) is not None:
        return {}
    offered = ", ".join(t["key"] for t in model.tiers or [])
    return {"tier": f"Size: “{tier}” is not one of this model's sizes ({offered})." if offered
            else "Size: this model has no sizes to choose from; leave it empty."}


def _image_ref(image) -> dict:
    ref = {
        "generation_image_id": image.pk, "sha256": image.sha256, "width": image.width, "height": image.height,
        "file": image.file, "thumbnail": image.thumbnail,
    }
    if image.is_video:
        # A clip: its file is the video; `preview` is its poster frame, shown until it plays.
        ref.update(content_type=image.content_type, duration_seconds=image.duration_seconds, preview=image.preview)
    return ref


def _quote(slug: str, *, tier: str, num_images: int) -> int:
    model = CatalogModel.objects.filter(slug=slug).first()
    if model is None or not model.tiers:
        return 0
    chosen = model.tier(tier or None) or model.tier(None)
    return pricing.quote(catalog_model=model, tier=chosen["key"], num_images=max(1, min(num_images, model.max_images)))


def _follow_generation(ref: str, *, port: str = "image") -> FollowStatus:
    generation = Generation.objects.filter(pk=ref).prefetch_related("images").first()
    if generation is None:
        return FollowStatus(failure=NodeFailed("The generation for this step is gone.", code="generation_missing",
                                               retry=False, fallback=False))
    if generation.is_active:
        return FollowStatus(progress=generation.progress)
    if generation.status == Status.SUCCEEDED:
        images = [_image_ref(image) for image in generation.images.all()]
        return FollowStatus(
            result=NodeResult({port: images}, meta={"generation_id": str(generation.pk), "seed": generation.seed}),
            charged=generation.charged_credits,
        )
    if generation.status == Status.REJECTED:
        failure = NodeFailed(generation.error_message or "The prompt was blocked.", code="content_blocked",
                             retry=False, fallback=False)
    elif generation.status == Status.CANCELED:
        failure = NodeFailed("The generation was canceled.", code="canceled", retry=False, fallback=False)
    else:
        code = generation.error_code or "provider_error"
        failure = NodeFailed(generation.error_message or "The image could not be made.", code=code,
                             retry=code in RETRYABLE_CODES, fallback=True)
    return FollowStatus(failure=failure)


def _create(**kwargs) -> Generation:
    """generation_create, its refusals as node failures: bad settings for this model or an
    unavailable model → try the next model; limits → try again later; no credits → stop."""
    try:
        return services.generation_create(**kwargs)
    except (InvalidGenerationError, ModelUnavailableError) as error:
        raise NodeFailed(error.message, code=error.code, retry=False, fallback=True) from None
    except RateLimitedError as error:
        raise NodeFailed(error.message, code=error.code, retry=True, fallback=False) from None
    except InsufficientCreditsError as error:
        raise NodeFailed(error.message, code=error.code, retry=False, fallback=False) from None
    except ApplicationError as error:
        raise NodeFailed(error.message, code=error.code, retry=False, fallback=True) from None


class GenerateNode(NodeType):
    key = "generate"
    label = "Generate"
    category = "Generate"
    description = "Text to image with any catalogue model. Connect a text input or type the prompt."
    inputs = (Port("prompt", TEXT, "Prompt", required=False),)
    outputs = (Port("image", IMAGE, "Images"),)
    fields = (
        _model_field(),
        Field("prompt", "Prompt", "text", default="", help="Used when no prompt is connected."),
        Field("negative_prompt", "Negative prompt", "string", default="", advanced=True),
        Field("aspect_ratio", "Aspect ratio", "choice", default="",
              choices=(("", "The model's default"), *((r, r) for r in RATIOS))),
        Field("tier", "Size", "string", default="", max_length=30, advanced=True,
              help="A size tier key (e.g. draft, standard); the model's first when empty."),
        Field("num_images", "Images", "int", default=1, min=1, max=4),
        Field("seed", "Seed", "string", default="", max_length=40, help="Empty for a random seed."),
    )
    queue = "io"
    uses_model = True
    hands_off = True

    def is_cacheable(self, params):
        # No seed means "surprise me": new images every run. With a seed, the same images again.
        return bool(params.get("seed"))

    def check(self, params, connected):
        errors = _tier_errors(params)
        if not params.get("prompt") and "prompt" not in connected:
            errors["prompt"] = "Type a prompt or connect a text input to “Prompt”."
        return errors

    def price(self, params, fallback_models):
        return max((_quote(slug, tier=params.get("tier", ""), num_images=params.get("num_images", 1))
                    for slug in self.models(params, fallback_models)), default=0)

    def run(self, ctx):
        model = CatalogModel.objects.filter(slug=ctx.model).first()
        if model is None:
            raise NodeFailed("This model is no longer in the catalogue.", code="model_unavailable", retry=False)
        params = ctx.params
        prompt = ctx.inputs.get("prompt") or params["prompt"]
        # Map the node's settings onto what this model (the primary or a fallback) takes.
        ratio = params["aspect_ratio"] or None
        if ratio and ratio not in model.aspect_ratios and model.aspect_ratios:
            ratio = nearest_aspect_ratio(ratio, model.aspect_ratios)
        generation = _create(
            user=ctx.user, model_slug=model.slug, prompt=prompt,
            negative_prompt=params["negative_prompt"] if model.supports_negative_prompt else "",
            aspect_ratio=ratio, tier=params["tier"] if model.tier(params["tier"] or None) else None,
            num_images=max(1, min(params["num_images"], model.max_images)),
            seed=params["seed"] if model.supports_seed else None,
        )
        return NodePending(generation_id=str(generation.pk))

    def follow(self, ref):
        return _follow_generation(ref)


def _edits_supported() -> bool:
    parameters = inspect.signature(services.generation_create).parameters
    return "image_upload_id" in parameters and "mask_upload_id" in parameters


def _as_photo(user, ref: dict) -> str:
    """The library photo an image came from, or a new one made from it (a generated image)."""
    if ref.get("upload_id"):
        return ref["upload_id"]
    from apps.media.services import upload_create
    from apps.media.storage import file_read

    try:
        return str(upload_create(user=user, content=file_read(ref["file"]), filename="generated.png").pk)
    except ApplicationError as error:
        raise NodeFailed(error.message, code=error.code, retry=False, fallback=False) from None


class EditNode(GenerateNode):
    key = "edit"
    label = "Edit / inpaint"
    category = "Generate"
    description = ("Change a photo with a model: repaint it from a prompt, only inside a mask (inpaint), "
                   "guided by reference images, or a model's own edit (upscale, cut-out).")
    inputs = (
        Port("image", IMAGE, "Photo"), Port("mask", IMAGE, "Mask", required=False),
        Port("reference", IMAGE, "References", required=False, multiple=True),
        Port("prompt", TEXT, "Prompt", required=False),
    )
    fields = (
        _model_field(capabilities=("image-to-image", "inpaint", "reference", "upscale", "remove-background")),
        Field("prompt", "Prompt", "text", default="", help="What to change (some models need none)."),
        Field("strength", "Strength", "float", default=None, min=0.05, max=1,
              help="How much of the photo to repaint (models that take it)."),
        Field("tier", "Size", "string", default="", max_length=30, advanced=True),
        Field("num_images", "Images", "int", default=1, min=1, max=4),
        Field("seed", "Seed", "string", default="", max_length=40),
    )

    def check(self, params, connected):
        return _tier_errors(params)

    def unavailable_reason(self, params):
        return "" if _edits_supported() else EDIT_NOT_READY

    def run(self, ctx):
        photos = ctx.inputs.get("image") or []
        if not photos:
            raise NodeFailed("No photo came in.", code="no_input", retry=False, fallback=False)
        model = CatalogModel.objects.filter(slug=ctx.model).first()
        if model is None:
            raise NodeFailed("This model is no longer in the catalogue.", code="model_unavailable", retry=False)
        masks = ctx.inputs.get("mask") or []
        references = ctx.inputs.get("reference") or []
        params = ctx.params
        generation = _create(
            user=ctx.user, model_slug=model.slug, prompt=ctx.inputs.get("prompt") or params["prompt"],
            tier=params["tier"] if model.tier(params["tier"] or None) else None,
            num_images=max(1, min(params["num_images"], model.max_images)),
            seed=params["seed"] if model.supports_seed else None,
            image_upload_id=_as_photo(ctx.user, photos[0]),
            mask_upload_id=masks[0].get("upload_id") if masks else None,
            reference_upload_ids=[_as_photo(ctx.user, ref) for ref in references],
            strength=params["strength"],
        )
        return NodePending(generation_id=str(generation.pk))


def _clip_seconds(model: CatalogModel, tier_key: str | None, wanted: int) -> int:
    """The length nearest `wanted` that the model's tier offers (any length when it lists none)."""
    tier = model.tier(tier_key) or model.tier(None) or {}
    offered = tier.get("durations") or []
    return min(offered, key=lambda seconds: (abs(seconds - wanted), seconds)) if offered else wanted


def _video_quote(slug: str, *, wanted: int) -> int:
    model = CatalogModel.objects.filter(slug=slug).first()
    if model is None or not model.tiers:
        return 0
    return pricing.quote(catalog_model=model, tier=None, num_images=1,
                         duration_seconds=_clip_seconds(model, None, wanted))


class ImageToVideoNode(NodeType):
    key = "image_to_video"
    label = "Image to video"
    category = "Generate"
    description = "Animate an image into a short clip with a video model that starts from a photo."
    inputs = (Port("image", IMAGE, "Image"), Port("prompt", TEXT, "Prompt", required=False))
    outputs = (Port("video", VIDEO, "Video"),)
    fields = (
        _model_field(CatalogModel.Kind.VIDEO, capabilities=("image-to-video",)),
        Field("prompt", "Prompt", "text", default="", help="How it should move (models that take one)."),
        Field("duration_seconds", "Duration (s)", "int", default=4, min=1, max=10,
              help="The nearest length the model offers is used."),
        Field("seed", "Seed", "string", default="", max_length=40, advanced=True, help="Empty for a random one."),
    )
    queue = "io"
    uses_model = True
    hands_off = True

    def is_cacheable(self, params):
        return bool(params.get("seed"))

    def unavailable_reason(self, params):
        return "" if _models(CatalogModel.Kind.VIDEO, ("image-to-video",))() else VIDEO_NOT_READY

    def price(self, params, fallback_models):
        return max((_video_quote(slug, wanted=params.get("duration_seconds") or 4)
                    for slug in self.models(params, fallback_models)), default=0)

    def run(self, ctx):
        photos = ctx.inputs.get("image") or []
        if not photos:
            raise NodeFailed("No photo came in.", code="no_input", retry=False, fallback=False)
        model = CatalogModel.objects.filter(slug=ctx.model).first()
        if model is None or not model.can("image-to-video"):
            raise NodeFailed("This video model is no longer in the catalogue.", code="model_unavailable", retry=False)
        params = ctx.params
        generation = _create(
            user=ctx.user, model_slug=model.slug, prompt=ctx.inputs.get("prompt") or params["prompt"],
            seed=params["seed"] if model.supports_seed else None, num_images=1,
            image_upload_id=_as_photo(ctx.user, photos[0]),
            duration_seconds=_clip_seconds(model, None, params["duration_seconds"]),
        )
        return NodePending(generation_id=str(generation.pk))

    def follow(self, ref):
        return _follow_generation(ref, port="video")


class FaceSwapNode(NodeType):
    key = "face_swap"
    label = "Face swap"
    category = "Generate"
    description = ("Put the face from one photo onto the person in another, with a face-swap model "
                   "(a hosted one when configured, else Darkroom's offline classical swap).")
    inputs = (Port("image", IMAGE, "Photo"), Port("face", IMAGE, "Face"))
    outputs = (Port("image", IMAGE, "Image"),)
    fields = (
        Field("model", "Model", "model", required=False, default=FACE_SWAP_MODEL,
              choices_fn=_models(CatalogModel.Kind.IMAGE, ("face-swap",)),
              help="Tried first; the fallback models follow in order if it fails."),
    )
    queue = "io"
    uses_model = True
    hands_off = True

    def price(self, params, fallback_models):
        return max((_quote(slug, tier="", num_images=1) for slug in self.models(params, fallback_models)), default=0)

    def unavailable_reason(self, params):
        return "" if _models(CatalogModel.Kind.IMAGE, ("face-swap",))() else FACE_SWAP_NOT_READY

    def run(self, ctx):
        photos, faces = ctx.inputs.get("image") or [], ctx.inputs.get("face") or []
        if not photos or not faces:
            raise NodeFailed("Face swap needs a photo and a face photo.", code="no_input", retry=False, fallback=False)
        model = CatalogModel.objects.filter(slug=ctx.model).first()
        if model is None or not model.can("face-swap"):
            raise NodeFailed("This face-swap model is no longer in the catalogue.", code="model_unavailable",
                             retry=False)
        generation = _create(
            user=ctx.user, model_slug=model.slug, prompt="", num_images=1,
            image_upload_id=_as_photo(ctx.user, photos[0]), reference_upload_ids=[_as_photo(ctx.user, faces[0])],
        )
        return NodePending(generation_id=str(generation.pk))

    def follow(self, ref):
        status = _follow_generation(ref)
        if status.failure is not None and status.failure.code == "no_face":
            # A photo without a face: the user's input; another attempt or model won't find one either.
            failure = NodeFailed(status.failure.message, code="no_face", retry=False, fallback=False)
            return FollowStatus(failure=failure)
        return status


for node_type in (GenerateNode(), EditNode(), ImageToVideoNode(), FaceSwapNode()):
    register_node_type(node_type)
