from apps.core.exceptions import ApplicationError


class PromptBlockedError(ApplicationError):
    code = "prompt_blocked"
    http_status = 422
    default_message = (
        "This prompt can't be used here: it asks for something our content rules don't allow. "
        "Please rephrase it. You were not charged."
    )
