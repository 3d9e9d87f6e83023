import httpx
import pytest

from apps.providers.exceptions import ProviderAccountError, ProviderRejectedError, ProviderRetryableError
from apps.providers.http import raise_for_status, retry_after_seconds
from apps.providers.retry import RetryPolicy, call_with_retry


def flaky(failures: list[Exception], result="done"):
    calls = []

    def call():
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return call, calls


def test_retryable_errors_are_retried_with_capped_jittered_backoff():
    slept = []
    call, calls = flaky([ProviderRetryableError(), ProviderRetryableError()])
    assert call_with_retry(call, RetryPolicy(attempts=3, base_delay=1, max_delay=1.5), sleep=slept.append) == "done"
    assert len(calls) == 3
    assert 0 <= slept[0] <= 1 and 0 <= slept[1] <= 1.5


def test_retry_after_is_honoured_exactly_and_too_long_a_wait_gives_up():
    slept = []
    call, calls = flaky([ProviderRetryableError(retry_after=2.5)])
    call_with_retry(call, RetryPolicy(attempts=2), sleep=slept.append)
    assert slept == [2.5]
    call, calls = flaky([ProviderRetryableError(retry_after=120)])
    with pytest.raises(ProviderRetryableError):
        call_with_retry(call, RetryPolicy(attempts=5, max_retry_after=20), sleep=slept.append)
    assert len(calls) == 1


def test_other_errors_and_exhausted_attempts_are_raised():
    call, calls = flaky([ProviderRejectedError()])
    with pytest.raises(ProviderRejectedError):
        call_with_retry(call, RetryPolicy(attempts=3), sleep=lambda s: None)
    assert len(calls) == 1
    call, calls = flaky([ProviderRetryableError()] * 3)
    with pytest.raises(ProviderRetryableError):
        call_with_retry(call, RetryPolicy(attempts=3), sleep=lambda s: None)
    assert len(calls) == 3


@pytest.mark.parametrize(
    "headers, expected",
    [({"retry-after": "7"}, 7.0), ({"retry-after-ms": "1500"}, 1.5), ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
     ({}, None), ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0)],
)
def test_retry_after_headers(headers, expected):
    assert retry_after_seconds(httpx.Response(429, headers=headers)) == expected


def test_an_account_problem_is_not_retried_but_lets_the_router_fall_back():
    call, calls = flaky([ProviderAccountError()])
    with pytest.raises(ProviderRetryableError):
        call_with_retry(call, RetryPolicy(attempts=3), sleep=lambda s: None)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "status, error", [(429, ProviderRetryableError), (408, ProviderRetryableError), (500, ProviderRetryableError),
                      (503, ProviderRetryableError), (401, ProviderAccountError), (402, ProviderAccountError),
                      (403, ProviderAccountError), (400, ProviderRejectedError), (422, ProviderRejectedError)],
)
def test_statuses_are_classed(status, error):
    with pytest.raises(error):
        raise_for_status(httpx.Response(status))
    assert raise_for_status(httpx.Response(200)).status_code == 200
