from datetime import datetime
from uuid import UUID

from ninja import Field, Query, Router, Schema

from apps.catalog import pricing
from apps.catalog.selectors import catalog_model_get
from apps.generations.exceptions import InvalidGenerationError

from .selectors import credits_balance_get, credits_ledger_page

router = Router(tags=["credits"])


class BalanceOut(Schema):
    balance: int


class LedgerEntryOut(Schema):
    id: int
    kind: str = Field(description="grant, daily, purchase, refund, dispute, reinstate, reserve, capture, release, adjustment")
    amount: int = Field(description="Signed change to your spendable balance.")
    memo: str
    generation_id: UUID | None = Field(description="The generation this entry held, charged or returned credits for.")
    purchase_id: UUID | None = Field(description="The credit purchase this entry belongs to.")
    created_at: datetime


class LedgerPage(Schema):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class LedgerQuery(Schema):
    cursor: str | None = None
    limit: int = Field(25, ge=1, le=100)


class QuoteQuery(Schema):
    model: str = Field(description="A model slug from GET /models.")
    tier: str | None = Field(None, description="One of the model's size tiers; the first if omitted.")
    num_images: int = Field(1, ge=1, le=16)
    duration_seconds: int | None = Field(
        None, ge=1, le=pricing.MAX_VIDEO_SECONDS,
        description=f"Video models only: seconds of video ({pricing.DEFAULT_VIDEO_SECONDS} if omitted).",
    )


class QuoteOut(Schema):
    model: str
    tier: str
    num_images: int
    duration_seconds: int | None
    credits: int = Field(description="What a generation with these settings reserves now.")
    balance: int
    enough: bool


@router.get("/balance", response=BalanceOut, summary="Your credit balance")
def balance_get(request):
    return {"balance": credits_balance_get(user=request.auth)}


@router.get("/ledger", response=LedgerPage, summary="Your credit history, newest first")
def ledger_list(request, query: Query[LedgerQuery]):
    """Every movement of your credits, keyset-paginated: pass `next_cursor` back as `cursor`."""
    page = credits_ledger_page(user=request.auth, cursor=query.cursor, limit=query.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/quote", response=QuoteOut, summary="Price a generation before submitting it")
def quote_get(request, query: Query[QuoteQuery]):
    """What `POST /generations` with the same settings would reserve. The price is held from submit
    to the end of the generation, even if prices change meanwhile."""
    catalog_model = catalog_model_get(slug=query.model)
    if catalog_model is None:
        raise InvalidGenerationError("Choose a model from the catalogue.", extra={"field": "model"})
    if query.num_images > catalog_model.max_images:
        raise InvalidGenerationError(
            f"{catalog_model.label} makes 1 to {catalog_model.max_images} images at a time.",
            extra={"field": "num_images"},
        )
    is_video = catalog_model.kind == "video"
    credits = pricing.quote(
        catalog_model=catalog_model, tier=query.tier, num_images=query.num_images,
        duration_seconds=query.duration_seconds if is_video else None,
    )
    balance = credits_balance_get(user=request.auth)
    return {
        "model": catalog_model.slug, "tier": catalog_model.tier(query.tier)["key"], "num_images": query.num_images,
        "duration_seconds": pricing.video_seconds(catalog_model.tier(query.tier), query.duration_seconds) if is_video else None,
        "credits": credits, "balance": balance, "enough": balance >= credits,
    }
