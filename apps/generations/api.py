import hashlib
import json
from functools import cache
from uuid import UUID

from django.conf import settings
from ninja import Field, Query, Router, Schema, Status

from apps.core.schemas import Integer, Number

from . import selectors, services
from .cards import cached_per_generation
from .schemas import GenerationOut, generation_out

router = Router(tags=["generations"])


class GenerationIn(Schema):
    model: str = Field(description='A model slug from GET /models, or "auto": the model is chosen for the '
                             'prompt and inputs, and the reason is the first of the notes. With "auto", '
                             '`tier` may name a budget: economy, balanced (default) or best.')
    prompt: str = Field(max_length=2000)
    negative_prompt: str = Field("", max_length=2000, description="Only for models that support it.")
    aspect_ratio: str | None = Field(None, description="One of the model's aspect ratios; the first if omitted.")
    tier: str | None = Field(None, description="One of the model's size tiers; the first if omitted.")
    num_images: Integer = Field(1, ge=1, le=16)
    seed: str | Integer | None = Field(None, description="A whole number (sent as text if it exceeds 64-bit JSON ints).")
    image_upload_id: UUID | None = Field(None, description="A photo from POST /uploads to start from (edit models).")
    mask_upload_id: UUID | None = Field(None, description="A mask upload of the photo's size: white is repainted.")
    reference_upload_ids: list[UUID] = Field(default_factory=list, max_length=4, description="Reference images.")
    strength: Number | None = Field(None, gt=0, le=1, description="Image-to-image: how far to move from the photo.")
    duration_seconds: Integer | None = Field(
        None, ge=1, le=60, description="Video models only: the clip's length in seconds (one the size tier offers).",
    )
    preset: str | None = Field(None, max_length=50, description="A style (prompt preset) slug: it wraps the "
                               "prompt; the version used is recorded on the generation.")


class GenerationPage(Schema):
    items: list[GenerationOut]
    next_cursor: str | None


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=100)


@router.post("/generations", response={201: GenerationOut}, summary="Create a generation")
def generation_create(request, payload: GenerationIn):
    """Validates, quotes and reserves the price, then queues the work. Follow it with GET or the event stream."""
    fields = payload.dict(exclude={"model"})
    fields["reference_upload_ids"] = tuple(fields["reference_upload_ids"])
    generation = services.generation_create(user=request.auth, model_slug=payload.model, **fields)
    if generation.cached_from_id is not None:  # reused at once: answer with its images
        generation = selectors.generation_get_for_user(user=request.auth, generation_id=generation.id)
        return Status(201, generation_out(generation))
    return Status(201, generation_out(generation, images=()))  # just queued: nothing made yet


@cache
def _item_version() -> str:
    """Changes with the item's shape and the signing key (a deploy or a key rotation)."""
    shape = json.dumps(GenerationOut.model_json_schema(), sort_keys=True)
    return hashlib.blake2b(f"{shape}|{settings.SECRET_KEY}".encode(), digest_size=6).hexdigest()


@router.get("/generations", response=GenerationPage, summary="List your generations, newest first")
def generation_list(request, query: Query[PageQuery]):
    page = selectors.generation_card_rows(user=request.auth, cursor=query.cursor, limit=query.limit)
    items = cached_per_generation(
        kind="api-item", version=_item_version(), rows=page.items, make=generation_out,
        load=lambda ids: selectors.generation_list_by_ids(user=request.auth, ids=ids),
    )
    return {"items": items, "next_cursor": page.next_cursor}


@router.get("/generations/{generation_id}", response=GenerationOut, summary="Get one generation")
def generation_get(request, generation_id: UUID):
    return generation_out(selectors.generation_get_for_user(user=request.auth, generation_id=generation_id))


@router.post("/generations/{generation_id}/cancel", response=GenerationOut, summary="Cancel a generation")
def generation_cancel(request, generation_id: UUID):
    """Cancels a queued or running generation and releases its credits. Canceling twice is harmless."""
    services.generation_cancel(user=request.auth, generation_id=generation_id)
    return generation_out(selectors.generation_get_for_user(user=request.auth, generation_id=generation_id))
