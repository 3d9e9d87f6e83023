"""Deleting an account: files and personal data go; the credits ledger stays, anonymised.

The user row is kept (the ledger's entries point at it with PROTECT, so balances and
`credits_reconcile` are unchanged) but becomes `deleted-<id>@deleted.invalid`, inactive, with no
usable password. Its generations keep their rows with blank prompts (the ledger names them as
"a deleted generation"); images, photos, exports, stars, collections, API keys, e-mail addresses
are removed (its sessions die with `is_active`: Django signs inactive users out), and every file under the user's storage folders with them.
"""

import logging

from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.generations.models import ACTIVE, CANCELABLE, Generation
from apps.generations.services import generation_cancel
from apps.media.models import Upload
from apps.media.storage import file_delete

from ..exceptions import WrongPasswordError
from ..models import AccountDeletion, Collection, DataExport, Star
from ..refs import GENERATION, PHOTO
from .deletion import library_purge

logger = logging.getLogger(__name__)
# Waits for a job that is saving its results before the files are removed.
RETRY_SECONDS = 30


def account_delete(*, user, password: str) -> AccountDeletion:
    """Checks the password, signs the account out everywhere and queues the removal."""
    from ..tasks import account_purge_task

    if not user.check_password(password or ""):
        raise WrongPasswordError()
    with transaction.atomic():
        try:
            with transaction.atomic():
                deletion = AccountDeletion.objects.create(user=user)
        except IntegrityError:
            deletion = AccountDeletion.objects.get(user=user)
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
        transaction.on_commit(lambda: account_purge_task.delay(user_id=user.pk), robust=True)
    return deletion


def _tree_delete(prefix: str) -> int:
    """Every file under a storage folder (whatever rows say): nothing of the user's is left behind."""
    try:
        folders, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for name in files:
        file_delete(f"{prefix}/{name}")
        removed += 1
    for folder in folders:
        removed += _tree_delete(f"{prefix}/{folder}")
    return removed


def account_purge(*, user_id) -> bool:
    """The task's work; safe to run twice. False while a job of theirs is still saving (retried)."""
    from ..tasks import account_purge_task

    deletion = AccountDeletion.objects.select_related("user").filter(user_id=user_id, finished_at=None).first()
    if deletion is None:
        return True
    user = deletion.user
    for generation_id in Generation.objects.filter(owner=user, status__in=CANCELABLE).values_list("pk", flat=True):
        try:
            generation_cancel(user=user, generation_id=generation_id)
        except ApplicationError:
            pass  # it moved on meanwhile: the check below sees it
    if Generation.objects.filter(owner=user, status__in=ACTIVE).exists():
        account_purge_task.apply_async(kwargs={"user_id": user_id}, countdown=RETRY_SECONDS)
        return False
    now = timezone.now()
    Generation.objects.filter(owner=user, deleted_at=None).update(deleted_at=now)
    Upload.objects.filter(owner=user, deleted_at=None).update(deleted_at=now)
    for pk in Generation.objects.filter(owner=user).values_list("pk", flat=True):
        library_purge(kind=GENERATION, item_id=str(pk), force=True)
    for pk in Upload.objects.filter(owner=user).values_list("pk", flat=True):
        library_purge(kind=PHOTO, item_id=str(pk), force=True)
    for export in DataExport.objects.filter(owner=user):
        file_delete(export.file)
    DataExport.objects.filter(owner=user).delete()
    Star.objects.filter(owner=user).delete()
    Collection.objects.filter(owner=user).delete()
    with transaction.atomic():
        _personal_data_remove(user)
        AccountDeletion.objects.filter(pk=deletion.pk).update(finished_at=timezone.now())
    leftovers = sum(_tree_delete(f"{folder}/{user.pk}") for folder in ("generations", "uploads", "exports"))
    if leftovers:
        logger.warning("account deletion removed files no row named", extra={"user": user.pk, "files": leftovers})
    return True


def _personal_data_remove(user) -> None:
    from allauth.account.models import EmailAddress

    user.api_keys.all().delete()
    EmailAddress.objects.filter(user=user).delete()
    user.email = f"deleted-{user.pk}@deleted.invalid"
    user.first_name = user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
