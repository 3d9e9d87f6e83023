from ninja import Router, Schema

from .selectors import credits_balance_get

router = Router(tags=["credits"])


class BalanceOut(Schema):
    balance: int


@router.get("/balance", response=BalanceOut, summary="Your credit balance")
def balance_get(request):
    return {"balance": credits_balance_get(user=request.auth)}
