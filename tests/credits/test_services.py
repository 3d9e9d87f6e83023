import threading

import pytest
from django.db import connection

from apps.credits import services
from apps.credits.exceptions import InsufficientCreditsError
from apps.credits.models import CreditAccount, LedgerEntry
from apps.credits.selectors import credits_balance_get, credits_ledger_balance
from apps.generations.models import Generation
from tests.accounts.factories import UserFactory
from tests.generations.factories import GenerationFactory


def entries(generation):
    return list(LedgerEntry.objects.filter(generation=generation).order_by("id").values_list("kind", "amount"))


def test_reserve_then_capture_charges_the_quote_once(catalog, user):
    generation = GenerationFactory(owner=user, tier="standard", num_images=2)  # 2 × 2 credits, reserved
    services.credits_capture(generation=generation)
    services.credits_capture(generation=generation)
    assert entries(generation) == [("reserve", -4), ("capture", 0)]
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user) == 96


def test_release_returns_the_hold_once_and_never_after_a_capture(catalog, user):
    released = GenerationFactory(owner=user)
    services.credits_release(generation=released)
    services.credits_release(generation=released)
    assert services.credits_capture(generation=released) is None
    assert entries(released) == [("reserve", -1), ("release", 1)]

    captured = GenerationFactory(owner=user)
    services.credits_capture(generation=captured)
    assert services.credits_release(generation=captured) is None
    assert entries(captured) == [("reserve", -1), ("capture", 0)]
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user) == 99


def test_a_reserve_beyond_the_balance_is_refused_and_changes_nothing(catalog, user):
    CreditAccount.objects.filter(user=user).update(balance=1)
    with pytest.raises(InsufficientCreditsError) as raised:
        GenerationFactory(owner=user, tier="standard")
    assert raised.value.extra == {"needed": 2, "balance": 1}
    assert raised.value.message == "This needs 2 credits and your balance is 1."
    assert Generation.objects.count() == 0
    assert CreditAccount.objects.get(user=user).balance == 1


def test_ledger_rows_cannot_be_changed_or_deleted(user):
    entry = LedgerEntry.objects.get(user=user)
    entry.amount = 1_000_000
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    assert LedgerEntry.objects.get(user=user).amount == 100


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_overspend(catalog, settings):
    """Ten threads race for credits that cover exactly four draft images."""
    settings.SIGNUP_GRANT_CREDITS = 4
    user = UserFactory()
    outcomes: list[str] = []
    barrier = threading.Barrier(10)

    def submit():
        barrier.wait()
        try:
            GenerationFactory(owner=user)
            outcomes.append("ok")
        except InsufficientCreditsError:
            outcomes.append("insufficient")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["insufficient"] * 6 + ["ok"] * 4
    assert LedgerEntry.objects.filter(user=user, kind="reserve").count() == 4
    # Each job ran to the end at commit; the four holds were captured, nothing was returned.
    assert LedgerEntry.objects.filter(user=user, kind="capture").count() == 4
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user) == 0
