from . import selectors


def balance(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    credit_balance = selectors.credits_balance_get(user=user)
    return {
        "credit_balance": credit_balance,
        "credit_balance_low": selectors.credits_balance_is_low(balance=credit_balance),
    }
