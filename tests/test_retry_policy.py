"""The retry policy's pure decisions: what is retried, after how long, and why not."""

from __future__ import annotations

import pytest

from billabex_async._http._retry import (
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    Failure,
    backoff_delay,
    decide,
)
from billabex_async._retry_after import parse_retry_after


def _decide(method: str, failure: Failure, status: int | None = None, **kw: object) -> bool:
    args: dict[str, object] = {
        "retry_after": None,
        "retries_done": 0,
        "max_retries": 4,
        "elapsed": 0.0,
    }
    args.update(kw)
    return decide(method=method, failure=failure, status=status, **args).retry  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retry_safe_methods_retry_retryable_statuses(method: str, status: int) -> None:
    assert _decide(method, Failure.STATUS, status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_final(status: int) -> None:
    assert not _decide("PUT", Failure.STATUS, status)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_is_not_retried_after_a_server_error(status: int) -> None:
    assert not _decide("POST", Failure.STATUS, status)


def test_create_is_retried_after_429_which_was_not_applied() -> None:
    assert _decide("POST", Failure.STATUS, 429)


def test_create_is_retried_only_when_never_sent() -> None:
    assert _decide("POST", Failure.NOT_SENT)
    assert not _decide("POST", Failure.UNKNOWN)
    assert _decide("PUT", Failure.UNKNOWN)


def test_max_retries_and_budget_stop_retrying() -> None:
    assert not _decide("GET", Failure.STATUS, 503, retries_done=4)
    assert not _decide("GET", Failure.STATUS, 503, retries_done=0, max_retries=0)
    assert not _decide("GET", Failure.STATUS, 503, elapsed=179.9, retry_after=5.0)


def test_retry_after_is_honoured_and_capped() -> None:
    d = decide(
        method="PUT",
        failure=Failure.STATUS,
        status=429,
        retry_after=7.0,
        retries_done=0,
        max_retries=4,
        elapsed=0.0,
    )
    assert d.delay == 7.0
    assert "Retry-After" in d.reason
    d = decide(
        method="PUT",
        failure=Failure.STATUS,
        status=429,
        retry_after=3600.0,
        retries_done=0,
        max_retries=4,
        elapsed=0.0,
        budget=10_000.0,
    )
    assert d.delay == MAX_RETRY_AFTER


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    assert backoff_delay(0, lambda: 1.0) == INITIAL_RETRY_DELAY
    assert backoff_delay(3, lambda: 1.0) == INITIAL_RETRY_DELAY * 8
    assert backoff_delay(30, lambda: 1.0) == MAX_RETRY_DELAY
    assert backoff_delay(3, lambda: 0.0) == 0.0


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    when = "Wed, 21 Oct 2015 07:28:30 GMT"
    assert parse_retry_after(when, now=1445412480.0) == 30.0
