import pytest
from django.db.models import Sum

from apps.core.exceptions import ApplicationError
from apps.credits.models import CreditAccount, LedgerEntry
from apps.generations import selectors as generation_selectors
from apps.generations.models import Generation, GenerationImage
from apps.library import services
from apps.library.refs import GENERATION, IMAGE, PHOTO, ItemRef
from apps.media import selectors as media_selectors
from apps.media import services as media_services
from apps.media.models import Upload
from tests.media.images import encode, mask_image

from .conftest import exists, files_of, images, past_window


def test_a_deleted_generation_is_hidden_at_once_and_purged_after_the_window(user, make_generation, committed):
    generation = make_generation(user, prompt="a red fox asleep in deep snow", num_images=2)
    paths = files_of(*images(generation))
    assert len(paths) == 6 and all(exists(p) for p in paths)
    ledger_before = list(LedgerEntry.objects.filter(generation=generation).values_list("kind", "amount"))

    deletion = services.library_items_delete(user=user, items=[ItemRef(GENERATION, str(generation.id))])

    assert (deletion.undo_until - deletion.deleted_at).total_seconds() == 20
    assert generation_selectors.generation_recent(user=user) == []
    with pytest.raises(ApplicationError) as raised:
        generation_selectors.generation_get_for_user(user=user, generation_id=generation.id)
    assert raised.value.http_status == 404
    # Within the window nothing is removed yet (the countdown's early run is a no-op).
    assert services.library_purge(kind=GENERATION, item_id=str(generation.id)) is False
    assert all(exists(p) for p in paths)

    past_window(generation)
    assert committed(services.library_purge, kind=GENERATION, item_id=str(generation.id)) is True
    assert [exists(p) for p in paths] == [False] * 6
    row = Generation.objects.get(pk=generation.pk)
    assert (row.prompt, row.negative_prompt, row.images.count()) == ("", "", 0)
    # The ledger keeps every entry of it.
    assert list(LedgerEntry.objects.filter(generation=generation).values_list("kind", "amount")) == ledger_before
    assert services.library_purge(kind=GENERATION, item_id=str(generation.id)) is False  # twice is harmless


def test_undo_within_the_window_brings_it_back_and_not_after(user, make_generation):
    generation = make_generation(user)
    ref = ItemRef(GENERATION, str(generation.id))
    services.library_items_delete(user=user, items=[ref])
    assert services.library_items_restore(user=user, items=[ref]) == 1
    assert generation_selectors.generation_get_for_user(user=user, generation_id=generation.id).prompt == generation.prompt

    services.library_items_delete(user=user, items=[ref])
    past_window(generation)
    with pytest.raises(ApplicationError) as raised:
        services.library_items_restore(user=user, items=[ref])
    assert (raised.value.code, raised.value.http_status) == ("undo_expired", 409)


def test_deleting_one_image_keeps_the_others(user, make_generation, committed):
    generation = make_generation(user, num_images=2)
    first, second = images(generation)
    services.library_items_delete(user=user, items=[ItemRef(IMAGE, str(first.pk))])
    shown = generation_selectors.generation_get_for_user(user=user, generation_id=generation.id)
    assert [image.pk for image in shown.images.all()] == [second.pk]
    past_window(first)
    assert committed(services.library_purge_due) == 1
    assert [exists(p) for p in files_of(first)] == [False, False, False]
    assert all(exists(p) for p in files_of(second))
    assert list(GenerationImage.objects.filter(generation=generation).values_list("pk", flat=True)) == [second.pk]


def test_a_photo_and_its_masks_are_deleted_together(user, make_photo, committed):
    photo = make_photo(user)
    mask = media_services.upload_create(user=user, content=encode(mask_image(320, 240, box=(10, 10, 80, 80))),
                                        kind="mask", photo_id=photo.id, filename="mask.png")
    services.library_items_delete(user=user, items=[ItemRef(PHOTO, str(photo.id))])
    assert media_selectors.upload_list(user=user).items == []
    past_window(photo, mask)
    assert committed(services.library_purge_due) == 1
    assert Upload.objects.filter(pk__in=[photo.pk, mask.pk]).count() == 0
    assert [exists(p) for p in files_of(photo, mask)] == [False] * len(files_of(photo, mask))


def test_bulk_delete_is_all_or_nothing_and_another_users_items_are_not_found(user, other_user, make_generation, make_photo):
    mine = make_generation(user)
    theirs = make_photo(other_user)
    with pytest.raises(ApplicationError) as raised:
        services.library_items_delete(user=user, items=[ItemRef(GENERATION, str(mine.id)), ItemRef(PHOTO, str(theirs.id))])
    assert raised.value.http_status == 404
    assert Generation.objects.get(pk=mine.pk).deleted_at is None
    assert Upload.objects.get(pk=theirs.pk).deleted_at is None


def test_a_running_generation_cannot_be_deleted(user, catalog):
    from tests.generations.factories import GenerationFactory

    generation = GenerationFactory(owner=user)  # queued: its task runs at commit, which never comes here
    with pytest.raises(ApplicationError) as raised:
        services.library_items_delete(user=user, items=[ItemRef(GENERATION, str(generation.id))])
    assert (raised.value.code, raised.value.http_status) == ("generation_active", 409)


def test_a_cached_copy_keeps_the_files_it_shares(user, make_generation, committed):
    source = make_generation(user, prompt="a teapot", seed="7")
    copy = make_generation(user, prompt="a teapot", seed="7")
    assert copy.cached_from_id == source.pk
    services.library_items_delete(user=user, items=[ItemRef(GENERATION, str(source.id))])
    past_window(source)
    committed(services.library_purge_due)
    assert all(exists(p) for p in files_of(*images(copy)))


def test_credits_still_reconcile_after_deletion(user, make_generation, committed):
    from apps.credits.services import credits_reconcile

    generation = make_generation(user)
    services.library_items_delete(user=user, items=[ItemRef(GENERATION, str(generation.id))])
    past_window(generation)
    committed(services.library_purge_due)
    balance = CreditAccount.objects.get(user=user).balance
    assert balance == 99
    assert LedgerEntry.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] == balance
    report = credits_reconcile()
    assert report["balance_mismatches"] == report["settlement_mismatches"] == report["spend_mismatches"] == []


@pytest.mark.django_db
def test_prompt_search_is_served_by_its_full_text_index():
    from django.db import connection

    from apps.library.selectors import prompt_matches

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'generation_prompt_search'")
        (definition,) = cursor.fetchone()
        assert "USING gin (to_tsvector('english'::regconfig, prompt))" in definition
        # The expression the search writes is the indexed one (an owner's few rows may use the owner index).
        query = prompt_matches(Generation.objects.all(), "fox snow")
        sql, params = query.query.sql_with_params()
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "generation_prompt_search" in plan, plan
