from . import selectors


def balance(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"credit_balance": selectors.credits_balance_get(user=user)}
