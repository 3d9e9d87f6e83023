"""The `data` of a webhook: the same object the API returns for what the event is about."""

from apps.core.exceptions import NotFoundError
from apps.generations.schemas import GenerationOut, generation_out
from apps.generations.selectors import generation_get_for_user


def generation_payload(user_id, data: dict) -> dict | None:
    from apps.accounts.models import User

    try:
        generation = generation_get_for_user(user=User(pk=user_id), generation_id=data.get("id"))
    except NotFoundError:
        return None
    return GenerationOut.model_validate(generation_out(generation)).model_dump(mode="json")
