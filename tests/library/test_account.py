import pytest
from django.core.files.storage import default_storage
from django.test import Client

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create
from apps.credits.models import CreditAccount, LedgerEntry
from apps.credits.services import credits_reconcile
from apps.generations.models import Generation, GenerationImage
from apps.library.models import AccountDeletion, Collection, DataExport, Star
from apps.media.models import Upload
from tests.accounts.factories import PASSWORD

from .conftest import exists, files_of, images


def stored_under(prefix: str) -> list[str]:
    try:
        folders, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return []
    return [f"{prefix}/{f}" for f in files] + [p for d in folders for p in stored_under(f"{prefix}/{d}")]


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_deleting_the_account_removes_every_file_and_keeps_the_ledger_anonymised(
        browser, user, other_user, make_generation, make_photo, django_capture_on_commit_callbacks):
    generation = make_generation(user, prompt="my secret garden", num_images=2)
    photo = make_photo(user)
    theirs = make_generation(other_user, prompt="not mine")
    api_key_create(user=user, name="laptop")
    Star.objects.create(owner=user, image=images(generation)[0])
    Collection.objects.create(owner=user, name="Mine")
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/account/export/")
    export_file = DataExport.objects.get(owner=user).file
    mine = files_of(*images(generation), photo) + [export_file]
    assert all(exists(p) for p in mine)
    assert stored_under(f"generations/{user.pk}") and stored_under(f"uploads/{user.pk}")
    ledger = list(LedgerEntry.objects.filter(user=user).order_by("pk").values_list("pk", "kind", "amount"))
    balance = CreditAccount.objects.get(user=user).balance

    wrong = browser.post("/account/delete/", {"password": "nope", "confirm": "delete"})
    assert wrong.status_code == 422 and "That password is not right." in wrong.content.decode()
    assert User.objects.get(pk=user.pk).is_active

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/account/delete/", {"password": PASSWORD, "confirm": "delete"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert browser.get("/library/")["Location"].startswith("/accounts/login/")  # signed out

    person = User.objects.get(pk=user.pk)
    assert (person.email, person.is_active, person.has_usable_password()) == (
        f"deleted-{user.pk}@deleted.invalid", False, False)
    assert AccountDeletion.objects.get(user=user).finished_at is not None
    assert [exists(p) for p in mine] == [False] * len(mine)
    for folder in ("generations", "uploads", "exports"):
        assert stored_under(f"{folder}/{user.pk}") == []
    assert Upload.objects.filter(owner=user).count() == 0
    assert GenerationImage.objects.filter(generation__owner=user).count() == 0
    assert list(Generation.objects.filter(owner=user).values_list("prompt", flat=True)) == [""]
    assert (ApiKey.objects.filter(user=user).count(), Star.objects.filter(owner=user).count(),
            Collection.objects.filter(owner=user).count(), DataExport.objects.filter(owner=user).count()) == (0, 0, 0, 0)
    # The ledger is whole, the balance unchanged, and everything reconciles.
    assert list(LedgerEntry.objects.filter(user=user).order_by("pk").values_list("pk", "kind", "amount")) == ledger
    assert CreditAccount.objects.get(user=user).balance == balance
    report = credits_reconcile()
    assert report["balance_mismatches"] == report["settlement_mismatches"] == report["spend_mismatches"] == []
    # Someone else's things are untouched.
    assert all(exists(p) for p in files_of(*images(theirs)))
    assert Generation.objects.get(pk=theirs.pk).prompt == "not mine"


def test_deletion_needs_the_confirmation_box(browser, user):
    response = browser.post("/account/delete/", {"password": PASSWORD})
    assert response.status_code == 422 and "Tick the box" in response.content.decode()
    assert not AccountDeletion.objects.filter(user=user).exists()
