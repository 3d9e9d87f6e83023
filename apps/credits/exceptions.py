from apps.core.exceptions import ApplicationError


class InsufficientCreditsError(ApplicationError):
    code = "insufficient_credits"
    http_status = 402

    def __init__(self, *, needed: int, balance: int):
        super().__init__(
            f"This needs {needed} credits and your balance is {balance}.",
            extra={"needed": needed, "balance": balance},
        )
