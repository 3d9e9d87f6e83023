"""Batches through the API: submit a prompt list, a CSV or a parameter sweep; follow; cancel; download."""

from typing import Literal
from uuid import UUID

from django.http import StreamingHttpResponse
from ninja import Field, Query, Router, Schema, Status

from apps.core.schemas import Integer
from apps.generations.schemas import GenerationOut, generation_out

from . import selectors, services, sources
from .download import batch_zip_name, batch_zip_stream
from .exceptions import BatchInvalidError, BatchNotDownloadableError
from .schemas import BatchOut, batch_out

router = Router(tags=["batches"])

SweepField = Literal[sources.FIELDS]  # type: ignore[valid-type]


class SweepEntry(Schema):
    field: SweepField
    values: list[str | Integer] = Field(min_length=1, max_length=1000)


class BatchIn(Schema):
    name: str = Field("", max_length=200)
    model: str = Field(description="A model slug from GET /models, for every item that doesn't name one.")
    prompt: str = Field("", max_length=2000, description="The prompt of every item that doesn't give one (sweeps).")
    negative_prompt: str = Field("", max_length=2000)
    aspect_ratio: str | None = None
    tier: str | None = None
    num_images: Integer = Field(1, ge=1, le=16)
    seed: str | Integer | None = None
    prompts: list[str] | None = Field(None, max_length=10000, description="One generation per prompt.")
    csv: str | None = Field(
        None, max_length=2_000_000,
        description="CSV text: a header row with `prompt` and optionally model, negative_prompt, aspect_ratio, "
                    "tier, num_images, seed; one generation per row, empty cells take the values above.",
    )
    sweep: list[list[SweepEntry]] | None = Field(
        None, max_length=10,
        description="Groups of {field, values}: lists in a group are zipped, groups are combined by product "
                    '(e.g. [[{"field": "prompt", "values": ["a", "b"]}], [{"field": "seed", "values": [1, 2, 3]}]] '
                    "makes 6).",
    )


class BatchPage(Schema):
    items: list[BatchOut]
    next_cursor: str | None


class BatchItemOut(Schema):
    index: int
    generation: GenerationOut


class BatchItemPage(Schema):
    items: list[BatchItemOut]
    next_cursor: str | None


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=100)


def batch_items(payload: BatchIn) -> tuple[str, list[dict]]:
    base = {"model": payload.model, "prompt": payload.prompt, "negative_prompt": payload.negative_prompt,
            "aspect_ratio": payload.aspect_ratio, "tier": payload.tier, "num_images": payload.num_images,
            "seed": payload.seed}
    given = [name for name in ("prompts", "csv", "sweep") if getattr(payload, name) is not None]
    if len(given) != 1:
        raise BatchInvalidError("Give exactly one of prompts, csv or sweep.")
    if payload.prompts is not None:
        return "prompts", sources.items_from_prompts(payload.prompts, base)
    if payload.csv is not None:
        return "csv", sources.items_from_csv(payload.csv, base)
    groups = [[{"field": e.field, "values": e.values} for e in group] for group in payload.sweep]
    return "sweep", sources.items_from_sweep(groups, base)


@router.post("/batches", response={201: BatchOut}, summary="Submit a batch")
def batch_create(request, payload: BatchIn):
    """Quotes the whole batch and reserves it in one go: if your credits don't cover every item, or any
    item is invalid, nothing is created (402 / 422 naming the item). Follow it with GET, the event
    stream (`batch.progress`, `batch.finished`) or a `batch.finished` webhook."""
    source, items = batch_items(payload)
    batch = services.batch_create(user=request.auth, items=items, source=source, name=payload.name)
    return Status(201, batch_out(batch))


@router.get("/batches", response=BatchPage, summary="List your batches, newest first")
def batch_list(request, query: Query[PageQuery]):
    page = selectors.batch_page(user=request.auth, cursor=query.cursor, limit=query.limit)
    return {"items": [batch_out(b) for b in page.items], "next_cursor": page.next_cursor}


@router.get("/batches/{batch_id}", response=BatchOut, summary="Get a batch and its progress")
def batch_get(request, batch_id: UUID):
    return batch_out(selectors.batch_get_for_user(user=request.auth, batch_id=batch_id))


@router.get("/batches/{batch_id}/items", response=BatchItemPage, summary="A batch's generations, in order")
def batch_item_list(request, batch_id: UUID, query: Query[PageQuery]):
    page = selectors.batch_items_page(user=request.auth, batch_id=batch_id, cursor=query.cursor, limit=query.limit)
    return {"items": [{"index": i.index, "generation": generation_out(i.generation)} for i in page.items],
            "next_cursor": page.next_cursor}


@router.post("/batches/{batch_id}/cancel", response=BatchOut, summary="Cancel the rest of a batch")
def batch_cancel(request, batch_id: UUID):
    """Cancels every generation that hasn't ended; their credits come back. Finished images stay."""
    return batch_out(services.batch_cancel(user=request.auth, batch_id=batch_id))


@router.get("/batches/{batch_id}/download", summary="Download a batch as a zip", url_name="batch_download",
            response={200: None},
            openapi_extra={"responses": {200: {"description": "application/zip", "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}})
def batch_download(request, batch_id: UUID):
    """Every image that has finished so far, named `<item>-<prompt>-<n>.png`, and manifest.csv."""
    batch = selectors.batch_get_for_user(user=request.auth, batch_id=batch_id)
    if not selectors.batch_progress(batch).counts["succeeded"]:
        raise BatchNotDownloadableError()
    return batch_zip_response(batch)


def batch_zip_response(batch) -> StreamingHttpResponse:
    response = StreamingHttpResponse(batch_zip_stream(batch), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{batch_zip_name(batch)}"'
    return response
