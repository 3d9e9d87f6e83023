"""Batches: create (quote and reserve every generation in one transaction, or none), follow,
cancel, finish once. A batch moves on when one of its generations ends (a `GenerationFinished`
subscriber) and announces `BatchProgressed` / `BatchFinished`."""

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from apps.catalog.models import CatalogModel
from apps.catalog.pricing import quote
from apps.core import events
from apps.core.exceptions import ApplicationError, NotFoundError
from apps.credits.exceptions import InsufficientCreditsError
from apps.credits.selectors import credits_balance_get
from apps.generations import services as generation_services
from apps.generations.exceptions import NotCancelableError
from apps.generations.models import ACTIVE, CANCELABLE

from .exceptions import BatchInvalidError
from .models import Batch, BatchItem

logger = logging.getLogger(__name__)

GENERATION_PARAMS = ("prompt", "negative_prompt", "aspect_ratio", "tier", "num_images", "seed")


def batch_quote(items: list[dict]) -> int:
    """The whole batch's price now, item by item (each item's model and size tier)."""
    models = {m.slug: m for m in CatalogModel.objects.filter(slug__in={i.get("model") for i in items})}
    total = 0
    for number, item in enumerate(items, start=1):
        model = models.get(item.get("model") or "")
        if model is None:
            raise BatchInvalidError(f"Item {number}: choose a model from the catalogue.")
        if model.tier(item.get("tier") or None) is None:
            sizes = ", ".join(t["key"] for t in model.tiers)
            raise BatchInvalidError(f"Item {number}: {model.label} offers these sizes: {sizes}.")
        try:
            total += quote(catalog_model=model, tier=item.get("tier") or None,
                           num_images=int(item.get("num_images") or 1))
        except ApplicationError as error:
            raise BatchInvalidError(f"Item {number}: {error.message}") from None
    return total


def batch_create(*, user, items: list[dict], source: str, name: str = "") -> Batch:
    """Every item becomes a generation through `generation_create`, all in one transaction: if the
    credits don't cover the whole batch, or any item is refused (by a limit too), nothing is created
    or reserved. The batch counts as one job against the concurrent-jobs limit; each item is linked
    as it is created, so the limit check recognises the batch's earlier items."""
    if source not in Batch.Source.values:
        raise BatchInvalidError("Unknown batch source.")
    total_quote = batch_quote(items)
    balance = credits_balance_get(user=user)
    if total_quote > balance:
        raise InsufficientCreditsError(needed=total_quote, balance=balance)
    with transaction.atomic():
        batch = Batch.objects.create(owner=user, name=name.strip()[:200], source=source, total=len(items))
        quoted = 0
        for index, item in enumerate(items):
            params = {k: item[k] for k in GENERATION_PARAMS if item.get(k) not in (None, "")}
            try:
                generation = generation_services.generation_create(
                    user=user, model_slug=item["model"], batch_id=batch.pk, **{"prompt": "", **params}
                )
            except InsufficientCreditsError:
                # Someone spent meanwhile: report the batch's need, not this item's.
                raise InsufficientCreditsError(needed=total_quote, balance=credits_balance_get(user=user)) from None
            except ApplicationError as error:
                error.message = f"Item {index + 1}: {error.message}"  # which row of the batch, same code
                error.args = (error.message,)
                raise
            BatchItem.objects.create(batch=batch, index=index, generation=generation,
                                     params={"model": item["model"], **params})
            quoted += generation.quoted_credits
        batch.quoted_credits = quoted
        batch.save(update_fields=["quoted_credits", "updated_at"])
        transaction.on_commit(lambda: batch_finish_if_done(batch_id=batch.pk))  # e.g. all from the result cache
    return batch


def _owned(user, batch_id) -> Batch:
    try:
        batch = Batch.objects.filter(owner=user, pk=uuid.UUID(str(batch_id))).first()
    except ValueError:
        batch = None
    if batch is None:
        raise NotFoundError("Batch not found.")
    return batch


def batch_cancel(*, user, batch_id) -> Batch:
    """Cancel every generation of the batch that hasn't ended (their credits come back)."""
    batch = _owned(user, batch_id)
    ids = list(
        BatchItem.objects.filter(batch=batch, generation__status__in=CANCELABLE).values_list("generation_id", flat=True)
    )
    for generation_id in ids:
        try:
            generation_services.generation_cancel(user=user, generation_id=generation_id)
        except NotCancelableError:
            pass  # it ended meanwhile
    Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).update(
        status=Batch.Status.CANCELED, updated_at=timezone.now()
    )
    batch_finish_if_done(batch_id=batch.pk)
    batch.refresh_from_db()
    return batch


def batch_finish_if_done(*, batch_id) -> bool:
    """Mark the batch finished once all its generations have ended, and announce `BatchFinished`
    exactly once (a conditional update picks the one caller that does), in the same transaction."""
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or batch.finished_at is not None:
        return False
    if BatchItem.objects.filter(batch=batch, generation__status__in=ACTIVE).exists():
        return False
    now = timezone.now()
    with transaction.atomic():
        won = Batch.objects.filter(pk=batch.pk, finished_at__isnull=True).update(
            finished_at=now, updated_at=now,
            status=Batch.Status.CANCELED if batch.status == Batch.Status.CANCELED else Batch.Status.FINISHED,
        )
        if won:
            batch.refresh_from_db()
            events.emit(events.BatchFinished(user_id=batch.owner_id, batch_id=str(batch.pk), status=batch.status))
    return bool(won)


def batch_generation_finished(event: events.GenerationFinished) -> None:
    """One of a batch's generations ended (after its commit): the batch moves on."""
    item = BatchItem.objects.select_related("batch").filter(generation_id=event.generation_id).first()
    if item is None:
        return
    if not batch_finish_if_done(batch_id=item.batch_id):
        item.batch.refresh_from_db()
        if item.batch.finished_at is None:
            events.emit(events.BatchProgressed(user_id=item.batch.owner_id, batch_id=str(item.batch_id)))


def batches_finish_stale() -> int:
    """Beat: finish batches whose last event was lost (their generations all ended)."""
    finished = 0
    for batch_id in Batch.objects.filter(finished_at__isnull=True).values_list("pk", flat=True)[:500]:
        finished += batch_finish_if_done(batch_id=batch_id)
    return finished

