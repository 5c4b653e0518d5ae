"""The retry policy's pure decisions: what is retried, after how long, and why not."""

from __future__ import annotations

import pytest

from billabex_async._http._retry import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_BUDGET,
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    Failure,
    RetryDecision,
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


def _verdict(
    method: str, failure: Failure, status: int | None = None, **kw: object
) -> RetryDecision:
    args: dict[str, object] = {
        "retry_after": None,
        "retries_done": 0,
        "max_retries": 4,
        "elapsed": 0.0,
        "rand": lambda: 0.5,
    }
    args.update(kw)
    return decide(method=method, failure=failure, status=status, **args)  # type: ignore[arg-type]


def test_the_documented_constants() -> None:
    # README: 0.5 s base, 8 s cap, Retry-After honoured up to 60 s; 4 retries.
    assert (INITIAL_RETRY_DELAY, MAX_RETRY_DELAY, MAX_RETRY_AFTER) == (0.5, 8.0, 60.0)
    assert DEFAULT_MAX_RETRIES == 4
    assert DEFAULT_RETRY_BUDGET == 180.0
    assert backoff_delay(1, lambda: 1.0) == 1.0
    assert backoff_delay(4, lambda: 1.0) == 8.0
    assert backoff_delay(5, lambda: 1.0) == 8.0  # 16 s capped
    assert backoff_delay(2, lambda: 0.5) == 1.0


def test_the_last_allowed_retry_is_made() -> None:
    assert _verdict("GET", Failure.STATUS, 503, retries_done=3, max_retries=4).retry
    final = _verdict("GET", Failure.STATUS, 503, retries_done=4, max_retries=4)
    assert (final.retry, final.delay) == (False, 0.0)
    assert final.reason == "max_retries=4 reached"


def test_a_retry_that_just_fits_the_budget_is_made() -> None:
    fits = _verdict("GET", Failure.STATUS, 503, retry_after=5.0, elapsed=5.0, budget=10.0)
    assert fits.retry
    assert fits.delay == 5.0
    over = _verdict("GET", Failure.STATUS, 503, retry_after=5.0, elapsed=5.01, budget=10.0)
    assert (over.retry, over.delay) == (False, 0.0)
    assert over.reason == "retry budget of 10s spent"


def test_the_default_budget_is_180_seconds() -> None:
    assert _verdict("GET", Failure.STATUS, 503, retry_after=1.0, elapsed=179.0).retry
    assert not _verdict("GET", Failure.STATUS, 503, retry_after=1.0, elapsed=179.5).retry


def test_a_client_cap_on_retry_after_applies() -> None:
    capped = _verdict("PUT", Failure.STATUS, 429, retry_after=30.0, max_retry_after=5.0)
    assert capped.delay == 5.0
    assert _verdict("PUT", Failure.STATUS, 429, retry_after=90.0).delay == 60.0


@pytest.mark.parametrize("method", ["get", "Put", "HEAD", "OPTIONS", "patch", "delete"])
def test_every_idempotent_method_is_retried_after_an_unknown_outcome(method: str) -> None:
    assert _verdict(method, Failure.UNKNOWN).retry


@pytest.mark.parametrize(
    ("method", "failure", "status", "reason"),
    [
        ("GET", Failure.STATUS, 404, "status 404 is final"),
        ("POST", Failure.STATUS, 500, "status 500 on POST: outcome unknown"),
        ("POST", Failure.UNKNOWN, None, "POST may have reached the server"),
        ("GET", Failure.STATUS, 503, "status 503; backoff 0.25s"),
        ("GET", Failure.NOT_SENT, None, "not sent; backoff 0.25s"),
        ("GET", Failure.UNKNOWN, None, "unknown; backoff 0.25s"),
    ],
)
def test_each_verdict_says_why(
    method: str, failure: Failure, status: int | None, reason: str
) -> None:
    verdict = _verdict(method, failure, status)
    assert verdict.reason == reason
    if not verdict.retry:
        assert verdict.retry is False
        assert verdict.delay == 0.0
    else:
        assert verdict.delay == 0.25  # rand 0.5 of the first ceiling, 0.5 s


def test_retry_after_wins_over_backoff_and_is_named() -> None:
    verdict = _verdict("GET", Failure.STATUS, 429, retry_after=7.0)
    assert verdict.reason == "status 429; Retry-After 7s 7.00s"
    assert verdict.delay == 7.0
    # A Retry-After of zero is still a Retry-After, not a reason to back off.
    assert _verdict("GET", Failure.STATUS, 503, retry_after=0.0).delay == 0.0


def test_backoff_uses_the_default_random_source() -> None:
    delays = {
        decide(
            method="GET",
            failure=Failure.STATUS,
            status=503,
            retry_after=None,
            retries_done=2,
            max_retries=4,
            elapsed=0.0,
        ).delay
        for _ in range(20)
    }
    assert all(0.0 <= d <= 2.0 for d in delays)
    assert len(delays) > 1  # jittered, not a fixed value
