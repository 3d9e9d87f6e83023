"""The `data` of a webhook: the same object the API returns for what the event is about."""

from apps.batches.schemas import BatchOut, batch_out
from apps.batches.selectors import batch_get_for_user
from apps.core.exceptions import NotFoundError
from apps.generations.schemas import GenerationOut, generation_out
from apps.generations.selectors import generation_get_for_user


def _owner(user_id):
    from apps.accounts.models import User

    return User(pk=user_id)


def generation_payload(user_id, generation_id) -> dict | None:
    try:
        generation = generation_get_for_user(user=_owner(user_id), generation_id=generation_id)
    except NotFoundError:
        return None
    return GenerationOut.model_validate(generation_out(generation)).model_dump(mode="json")


def batch_payload(user_id, batch_id) -> dict | None:
    try:
        batch = batch_get_for_user(user=_owner(user_id), batch_id=batch_id)
    except NotFoundError:
        return None
    return BatchOut.model_validate(batch_out(batch)).model_dump(mode="json")
