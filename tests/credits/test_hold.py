"""A new generation's hold when no limit is set: one statement on PostgreSQL, the same rows and
the same refusals as the general path."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.credits import services
from apps.credits.exceptions import InsufficientCreditsError
from apps.credits.models import CreditAccount, DailySpend, LedgerEntry
from apps.credits.selectors import credits_balance_get, credits_ledger_balance
from apps.generations import services as generation_services
from apps.generations.models import Generation
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture(autouse=True)
def no_limits(settings):
    settings.RATE_LIMIT_GENERATIONS_PER_HOUR = 0
    settings.RATE_LIMIT_CONCURRENT_JOBS = 0
    settings.USER_DAILY_SPEND_CAP = 0
    settings.GLOBAL_DAILY_BUDGET = 0


def test_the_hold_is_exact_and_takes_no_separate_lock():
    user = UserFactory()
    with CaptureQueriesContext(connection) as queries:
        generation = generation_services.generation_create(user=user, model_slug="offline-sketch", prompt="a kite")
    assert not any("FOR UPDATE" in query["sql"] for query in queries.captured_queries)
    assert credits_balance_get(user=user) == credits_ledger_balance(user=user) == 99
    entry = LedgerEntry.objects.get(generation=generation)
    assert (entry.kind, entry.amount, entry.idempotency_key, entry.memo) == (
        "reserve", -1, f"generation:{generation.pk}:reserve", "Held for a generation")
    assert DailySpend.objects.get(user=user).spent == 1
    assert services.credits_reconcile()["spend_mismatches"] == []


def test_a_short_balance_is_refused_with_nothing_written():
    user = UserFactory()
    CreditAccount.objects.filter(user=user).update(balance=1)
    with pytest.raises(InsufficientCreditsError) as raised:
        generation_services.generation_create(user=user, model_slug="offline-sketch", prompt="a kite", tier="standard")
    assert raised.value.extra == {"needed": 2, "balance": 1}
    assert Generation.objects.count() == 0 and CreditAccount.objects.get(user=user).balance == 1
    assert not DailySpend.objects.filter(user=user).exists()


def test_a_user_without_an_account_row_gets_one_and_is_refused():
    user = UserFactory()
    CreditAccount.objects.filter(user=user).delete()
    with pytest.raises(InsufficientCreditsError):
        generation_services.generation_create(user=user, model_slug="offline-sketch", prompt="a kite")
    assert Generation.objects.count() == 0
