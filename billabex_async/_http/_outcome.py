"""Transport layer: what follows one attempt: done, retry after a delay, or replay at once."""

from __future__ import annotations

import logging

import attrs

from billabex_async._http._attempt import Call, Response
from billabex_async._http._auth import TokenSource
from billabex_async._http._errors import TransportFailure
from billabex_async._http._lease import pause
from billabex_async._http._retry import RETRYABLE_STATUSES, Failure, RetryDecision, decide
from billabex_async._ratelimit import Limiter
from billabex_async._retry_after import parse_retry_after
from billabex_async.errors import AuthRefreshError, OutcomeUnknownError, make_status_error

__all__ = ["Done", "Outcome", "Replay", "RetryAfter", "Rules"]

logger = logging.getLogger("billabex_async")

_UNKNOWN_CREATE = (
    "the connection failed after the request was sent; it may have been applied, "
    "so it was not retried (a retry could duplicate it); send it again with the "
    "same idempotency_key and body"
)
_UNKNOWN_AFTER_RETRIES = (
    "an attempt may have been applied and the retries with the same Idempotency-Key "
    "ran out ({reason}); send it again with the same idempotency_key and body"
)


@attrs.frozen
class Done:
    """The call succeeded: hand ``response`` to the resource."""

    response: Response


@attrs.frozen
class RetryAfter:
    """Retry after ``delay`` seconds; counts against ``max_retries``."""

    delay: float


@attrs.frozen
class Replay:
    """Send again at once with a fresh token (after a refresh): not a retry."""


Outcome = Done | RetryAfter | Replay
_REPLAY = Replay()


class Rules:
    """The retry policy applied to a call's latest attempt, with this client's bounds.

    Each method returns what to do next, or raises the call's final error.
    ``now`` is the transport's clock reading (virtual in tests), for the
    retry budget.
    """

    __slots__ = ("_auth", "_budget", "_max_retry_after")

    def __init__(self, *, auth: TokenSource, budget: float, max_retry_after: float) -> None:
        self._auth = auth
        self._budget = budget
        self._max_retry_after = max_retry_after

    def after_failure(self, call: Call, failure: TransportFailure, *, now: float) -> RetryAfter:
        """After an attempt that got no answer: the delay before retrying, or raise."""
        if failure.failure is Failure.UNKNOWN:
            call.outcome_unknown = True
        decision = self._decide(call, failure.failure, now=now)
        logger.debug(
            "%s %s attempt %d failed: %s", call.method, call.path, call.attempt, decision.reason
        )
        if decision.retry:
            return RetryAfter(decision.delay)
        if call.outcome_unknown and call.method == "POST":
            raise self._unknown(call, decision.reason) from failure.error
        raise failure.error from failure.__cause__

    async def after_answer(
        self, call: Call, response: Response, token: str, *, limiter: Limiter | None, now: float
    ) -> Outcome:
        """After an HTTP answer to ``token``: done, retry, replay, or raise.

        A 429 pauses ``limiter``, which then does the waiting.
        """
        status, headers = response.status, response.headers
        if 200 <= status < 300:
            return Done(response)
        if status == 404 and call.method == "DELETE" and call.outcome_unknown:
            # An earlier attempt whose answer was lost did delete it.
            logger.debug("DELETE %s -> 404 after an unknown outcome: already deleted", call.path)
            return Done(Response(status=204, headers=headers, body=b""))
        error = make_status_error(
            status,
            response.body,
            headers=headers,
            method=call.method,
            path=call.path,
            secrets=(token,),
        )
        if 300 <= status < 400:
            logger.warning("%s", error)  # names the Location host only
            raise error
        if status == 401:
            if not self._auth.can_refresh or call.refreshed:
                raise error
            call.refreshed = True
            try:
                await self._auth.refresh(token)
            except AuthRefreshError as exc:
                raise error from exc
            logger.info("%s %s -> 401: token refreshed, replaying", call.method, call.path)
            return _REPLAY
        retry_after = parse_retry_after(headers.get("Retry-After"))
        paused = False
        if status == 429 and limiter is not None:
            retry_after = min(1.0 if retry_after is None else retry_after, self._max_retry_after)
            paused = pause(limiter, retry_after)
        earlier_unknown = call.outcome_unknown
        if status in (502, 504):
            call.outcome_unknown = True  # a gateway lost the answer, not the request
        # With a limiter, the pause holds this request as long as a sleep would:
        # the budget is charged the same.
        decision = self._decide(
            call, Failure.STATUS, now=now, status=status, retry_after=retry_after
        )
        if not decision.retry:
            logger.debug(
                "%s %s -> %d, not retried: %s", call.method, call.path, status, decision.reason
            )
            if earlier_unknown and call.method == "POST" and status in RETRYABLE_STATUSES:
                # Retried with the same key after an unknown outcome, and out of
                # retries: the earlier attempt may still have been applied.
                raise self._unknown(call, decision.reason) from error
            raise error
        logger.info("%s %s -> %d, retrying: %s", call.method, call.path, status, decision.reason)
        return RetryAfter(0.0 if paused else decision.delay)  # paused: the limiter waits

    def _decide(
        self,
        call: Call,
        failure: Failure,
        *,
        now: float,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> RetryDecision:
        return decide(
            method=call.method,
            failure=failure,
            status=status,
            retry_after=retry_after,
            retries_done=call.retries_done,
            max_retries=call.max_retries,
            elapsed=now - call.started,
            budget=self._budget,
            max_retry_after=self._max_retry_after,
            replay_safe=call.replay_safe,
        )

    def _unknown(self, call: Call, reason: str) -> OutcomeUnknownError:
        """The error for a create that may have been applied: with what to send again."""
        message = (
            _UNKNOWN_AFTER_RETRIES.format(reason=reason) if call.replay_safe else _UNKNOWN_CREATE
        )
        return OutcomeUnknownError(
            message,
            method=call.method,
            path=call.path,
            idempotency_key=call.idempotency_key,
            body=call.data,
        )
