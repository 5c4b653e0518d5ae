"""Transport layer: the retry policy, as small pure functions.

Which failures are retried depends on whether repeating the request is safe:
GET, PUT (upsert matches instead of creating twice), PATCH (same body, same
result) and DELETE are; POST create is not, so it is retried only when the
request certainly never reached the server, or when it carries an
Idempotency-Key the server is trusted to honour (``replay_safe``): then the
server answers a repeat with the first result instead of applying it again.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

import attrs

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_BUDGET",
    "INITIAL_RETRY_DELAY",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_DELAY",
    "RETRYABLE_STATUSES",
    "Failure",
    "RetryDecision",
    "backoff_delay",
    "decide",
]

DEFAULT_MAX_RETRIES = 4
INITIAL_RETRY_DELAY = 0.5  # seconds; doubles each retry, before jitter
MAX_RETRY_DELAY = 8.0  # seconds; cap of one backoff
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After is capped (the window is 60 s)
DEFAULT_RETRY_BUDGET = 180.0  # seconds of retrying (backoff and attempts) per call

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Failure(enum.Enum):
    """How an attempt failed, as far as the retry policy cares."""

    STATUS = "status"  # an HTTP answer with an error status
    NOT_SENT = "not sent"  # connecting failed: the server never saw the request
    UNKNOWN = "unknown"  # sent, then the connection broke or timed out


@attrs.frozen
class RetryDecision:
    """Whether to retry, after how long, and why (logged at DEBUG)."""

    retry: bool
    delay: float
    reason: str


def backoff_delay(retries_done: int, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**n)]."""
    ceiling = min(MAX_RETRY_DELAY, INITIAL_RETRY_DELAY * 2.0**retries_done)
    return rand() * ceiling


def decide(
    *,
    method: str,
    failure: Failure,
    status: int | None,
    retry_after: float | None,
    retries_done: int,
    max_retries: int,
    elapsed: float,
    budget: float = DEFAULT_RETRY_BUDGET,
    max_retry_after: float = MAX_RETRY_AFTER,
    rand: Callable[[], float] = random.random,
    replay_safe: bool = False,
) -> RetryDecision:
    """Decide whether a failed attempt is retried.

    ``retries_done`` counts retries already made; ``elapsed`` is the seconds
    since the first attempt, checked against ``budget`` together with the
    next delay. ``replay_safe``: the request carries an Idempotency-Key the
    server honours, so repeating it (same key, same body) is safe whatever
    the method.
    """
    if retries_done >= max_retries:
        return RetryDecision(False, 0.0, f"max_retries={max_retries} reached")
    idempotent = method.upper() in IDEMPOTENT_METHODS or replay_safe
    if failure is Failure.STATUS:
        if status not in RETRYABLE_STATUSES:
            return RetryDecision(False, 0.0, f"status {status} is final")
        # A 429 was rejected before being applied: safe for any method. A 5xx
        # on a create may have been applied after all.
        if status != 429 and not idempotent:
            return RetryDecision(False, 0.0, f"status {status} on {method}: outcome unknown")
    elif failure is Failure.UNKNOWN and not idempotent:
        return RetryDecision(False, 0.0, f"{method} may have reached the server")
    if retry_after is not None:
        delay = min(retry_after, max_retry_after)
        why = f"Retry-After {retry_after:g}s"
    else:
        delay = backoff_delay(retries_done, rand)
        why = "backoff"
    if elapsed + delay > budget:
        return RetryDecision(False, 0.0, f"retry budget of {budget:g}s spent")
    what = f"status {status}" if failure is Failure.STATUS else failure.value
    return RetryDecision(True, delay, f"{what}; {why} {delay:.2f}s")
