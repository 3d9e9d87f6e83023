"""Workflow node types for local image work: a photo input, the operations of `apps.imaging`,
resize/crop, composite onto a backdrop, and "pick best". Registered from `MediaConfig.ready()`.

Every result is stored as a new photo in the owner's library (like the edit page's operations),
so later nodes, the run page and the cache all refer to it by content hash.

Failure knob: each local node has an advanced `fail_attempts` setting (default 0). The node fails
on purpose, retryably, on its first N attempts in a run: set it to 1, run, watch the step fail,
retry it alone and it succeeds. Demos and fault tests use it; it is never on by default.
"""

import sys

from django.conf import settings
from PIL import Image

from apps.core.exceptions import ApplicationError
from apps.imaging.cleaning import CleanImage, image_clean, image_encode
from apps.imaging.composite import composite_onto
from apps.imaging.exceptions import ImagingError
from apps.imaging.operations import OPERATIONS, OperationError, crop_to_aspect, resize_long_edge
from apps.imaging.scores import image_score
from apps.workflows.engine.registry import register_node_type
from apps.workflows.engine.types import Field, NodeFailed, NodeResult, NodeType, Port, PortType

from . import selectors
from .models import Kind, Upload
from .naming import derived_name
from .services import upload_store
from .storage import file_read
from .validation import image_validate

IMAGE = PortType.IMAGE
FAIL_ATTEMPTS = Field(
    "fail_attempts", "Test: fail the first attempts", "int", default=0, min=0, max=10, advanced=True,
    help="A failure knob for demos and tests: the step fails on purpose on its first N attempts in a run.",
)


def upload_ref(upload: Upload) -> dict:
    return {
        "upload_id": str(upload.pk), "sha256": upload.sha256, "width": upload.width, "height": upload.height,
        "file": upload.file, "thumbnail": upload.thumbnail or "",
    }


def _open(ref: dict) -> tuple[Image.Image, str]:
    """The stored image as a cleaned Pillow image, with its format."""
    try:
        image = image_validate(file_read(ref["file"]), max_bytes=sys.maxsize)
    except (ImagingError, OSError, KeyError) as error:
        raise NodeFailed("An input image could not be read.", code="input_unreadable", retry=False,
                         fallback=False) from error
    return image_clean(image), image.format


def _store(ctx, image: Image.Image, fmt: str, *, source_ref: dict, operation: str, params: dict) -> dict:
    if image.width * image.height > settings.MEDIA_MAX_PIXELS:
        raise NodeFailed(f"The result would be {image.width}×{image.height} pixels, over this server's limit.",
                         code="result_too_large", retry=False, fallback=False)
    image.info = {}
    clean = CleanImage(image=image, content=image_encode(image, fmt), format=fmt)
    source = Upload.objects.filter(pk=source_ref.get("upload_id"), owner=ctx.user).first() if source_ref.get(
        "upload_id") else None
    upload = upload_store(
        owner=ctx.user, kind=Kind.PHOTO, clean=clean, source=source, operation=operation, operation_params=params,
        original_name=derived_name(source.original_name if source else source_ref.get("name", ""), operation, params,
                                   fallback="Generated image" if source_ref.get("generation_image_id") else "Photo"),
    )
    return upload_ref(upload)


def _check_size(width: int, height: int) -> None:
    if width * height > settings.MEDIA_MAX_PIXELS:
        raise NodeFailed(f"The result would be {width}×{height} pixels, over this server's limit. "
                         "Start from a smaller image or a smaller factor.",
                         code="result_too_large", retry=False, fallback=False)


class PhotoInput(NodeType):
    key = "input_photo"
    label = "Photo input"
    category = "Inputs"
    description = "A photo (or a mask, or a reference image) from your library, chosen when the workflow is run."
    outputs = (Port("image", IMAGE, "Photo"),)
    fields = (
        Field("kind", "Takes", "choice", default=Kind.PHOTO.value,
              choices=tuple((kind.value, kind.label) for kind in Kind)),
    )
    exposed = "photo"

    def resolve_input(self, *, user, value, params):
        if isinstance(value, dict):
            value = value.get("upload_id")
        kind = params.get("kind") or Kind.PHOTO
        if not value:
            raise ApplicationError(f"Choose a {Kind(kind).label.lower()} for this input.")
        upload = selectors.upload_get_for_user(user=user, upload_id=value, kind=kind)
        return upload_ref(upload)

    def run(self, ctx):
        return NodeResult({"image": [ctx.exposed_value]})


class LocalImageNode(NodeType):
    """One image in, one image out, for each image that comes in."""

    category = "Local edits"
    queue = "media"
    inputs = (Port("image", IMAGE, "Image"),)
    outputs = (Port("image", IMAGE, "Image"),)

    def price(self, params, fallback_models):
        return settings.WORKFLOW_LOCAL_OPERATION_CREDITS

    def run(self, ctx):
        if ctx.attempt <= (ctx.params.get("fail_attempts") or 0):
            raise NodeFailed(f"Failed on purpose (test knob: the first {ctx.params['fail_attempts']} attempts fail).",
                             code="forced_failure", retry=True, fallback=False)
        images = ctx.inputs.get("image") or []
        if not images:
            raise NodeFailed("No image came in.", code="no_input", retry=False, fallback=False)
        return NodeResult({"image": [self.apply_one(ctx, ref) for ref in images]})

    def apply_one(self, ctx, ref: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


def _operation_field(operation_key: str, param_name: str, label: str | None = None) -> Field:
    param = next(p for p in OPERATIONS.get(operation_key).params if p.name == param_name)
    return Field(param.name, label or param.label, "choice", default=param.default,
                 choices=tuple((choice.value, choice.label) for choice in param.choices))


class OperationNode(LocalImageNode):
    """A node for one of `operations.OPERATIONS`."""

    operation = ""

    def apply_one(self, ctx, ref):
        spec = OPERATIONS.get(self.operation)
        params = {name: ctx.params[name] for name in (p.name for p in spec.params)}
        cleaned = spec.clean(params)
        _check_size(*spec.output_size((ref["width"], ref["height"]), cleaned))
        image, fmt = _open(ref)
        try:
            result = spec.apply(image, **cleaned)
        except OperationError as error:
            raise NodeFailed(f"{spec.label} did not work on this image: {error}.", code="operation_failed",
                             retry=False, fallback=False) from None
        return _store(ctx, result, spec.output_format(fmt, cleaned), source_ref=ref, operation=spec.key,
                      params=cleaned)


class UpscaleNode(OperationNode):
    key = "upscale"
    label = "Upscale"
    description = "Lanczos resampling plus an unsharp mask, 2× or 4×. Adds pixels, not detail."
    operation = "upscale"
    fields = (_operation_field("upscale", "factor"), FAIL_ATTEMPTS)


class RemoveBackgroundNode(OperationNode):
    key = "remove_background"
    label = "Remove background"
    description = "OpenCV GrabCut from a centred rectangle, with a feathered edge. Best with a centred subject."
    operation = "remove_background"
    fields = (FAIL_ATTEMPTS,)


class ColourCorrectNode(OperationNode):
    key = "color_correct"
    label = "Colour correct"
    description = "Automatic white balance, then levels."
    operation = "color"
    fields = (_operation_field("color", "white_balance"), FAIL_ATTEMPTS)


ASPECTS = ("1:1", "4:5", "3:2", "2:3", "16:9", "9:16")
LONG_EDGES = (512, 1024, 1536, 2048)


class ResizeCropNode(LocalImageNode):
    key = "resize_crop"
    label = "Resize / crop"
    description = "Centre crop to an aspect ratio, then scale so the long edge is a given size."
    fields = (
        Field("aspect", "Crop to", "choice", default="keep",
              choices=(("keep", "Keep the shape"), *((a, a) for a in ASPECTS))),
        Field("long_edge", "Long edge", "choice", default=0,
              choices=((0, "Keep the size"), *((n, f"{n} px") for n in LONG_EDGES))),
        FAIL_ATTEMPTS,
    )

    def apply_one(self, ctx, ref):
        aspect, long_edge = ctx.params["aspect"], ctx.params["long_edge"]
        if aspect == "keep" and not long_edge:
            return ref
        image, fmt = _open(ref)
        if aspect != "keep":
            image = crop_to_aspect(image, aspect)
        if long_edge:
            _check_size(*_scaled(image.size, long_edge))
            image = resize_long_edge(image, long_edge)
        return _store(ctx, image, fmt, source_ref=ref, operation="resize_crop",
                      params={"aspect": aspect, "long_edge": long_edge})


def _scaled(size, long_edge):
    scale = long_edge / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


class CompositeNode(LocalImageNode):
    key = "composite"
    label = "Composite onto backdrop"
    description = ("Place a cut-out subject on a backdrop photo (fitted inside it) or on a plain colour. "
                   "Without a backdrop the subject keeps its size and gets a margin.")
    inputs = (Port("image", IMAGE, "Subject"), Port("backdrop", IMAGE, "Backdrop", required=False))
    fields = (
        Field("colour", "Backdrop colour", "colour", default="#ffffff",
              help="Used when no backdrop image is connected."),
        Field("padding", "Margin (%)", "int", default=8, min=0, max=40),
        FAIL_ATTEMPTS,
    )

    def apply_one(self, ctx, ref):
        backdrops = ctx.inputs.get("backdrop") or []
        backdrop = _open(backdrops[0])[0] if backdrops else None
        subject, _ = _open(ref)
        if backdrop is None:
            pad = round(max(subject.size) * ctx.params["padding"] / 100)
            _check_size(subject.width + 2 * pad, subject.height + 2 * pad)
        result = composite_onto(subject, backdrop=backdrop, colour=ctx.params["colour"], padding=ctx.params["padding"])
        return _store(ctx, result, "PNG", source_ref=ref, operation="composite",
                      params={"colour": ctx.params["colour"], "padding": ctx.params["padding"]})


# ---------------------------------------------------------------- pick best


class PickBestNode(LocalImageNode):
    key = "pick_best"
    label = "Pick best"
    description = "Keep the first N images by a score: sharpness, contrast, colourfulness or resolution."
    inputs = (Port("image", IMAGE, "Images", multiple=True),)
    fields = (
        Field("keep", "Keep", "int", default=1, min=1, max=16),
        Field("score", "Score by", "choice", default="sharpness", choices=(
            ("sharpness", "Sharpness (variance of the Laplacian)"), ("contrast", "Contrast"),
            ("colourfulness", "Colourfulness"), ("resolution", "Resolution"),
        )),
        FAIL_ATTEMPTS,
    )

    def run(self, ctx):
        if ctx.attempt <= (ctx.params.get("fail_attempts") or 0):
            raise NodeFailed("Failed on purpose (test knob).", code="forced_failure", retry=True, fallback=False)
        images = ctx.inputs.get("image") or []
        if not images:
            raise NodeFailed("No image came in.", code="no_input", retry=False, fallback=False)
        scored = [(round(image_score(_open(ref)[0], ctx.params["score"]), 4), index, ref)
                  for index, ref in enumerate(images)]
        ranked = sorted(scored, key=lambda item: (-item[0], item[1]))
        kept = [ref for _, _, ref in ranked[: ctx.params["keep"]]]
        return NodeResult({"image": kept}, meta={
            "score": ctx.params["score"],
            "scores": [{"sha256": ref["sha256"], "score": score} for score, _, ref in ranked],
        })


for node_type in (PhotoInput(), UpscaleNode(), RemoveBackgroundNode(), ColourCorrectNode(), ResizeCropNode(),
                  CompositeNode(), PickBestNode()):
    register_node_type(node_type)
