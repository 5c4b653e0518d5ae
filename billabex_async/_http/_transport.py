"""Transport layer: send one logical request through auth, limiter and retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from billabex_async._http._attempt import (
    Attempts,
    RequestEvent,
    Response,
    count_attempts,
    int_header,
)
from billabex_async._http._auth import TokenSource
from billabex_async._http._errors import TransportFailure, map_aiohttp_errors
from billabex_async._http._idempotency import (
    IDEMPOTENCY_HEADER,
    WRITE_METHODS,
    encode_json,
    new_idempotency_key,
)
from billabex_async._http._limiter import Limiter
from billabex_async._http._retry import (
    DEFAULT_RETRY_BUDGET,
    MAX_RETRY_AFTER,
    RETRYABLE_STATUSES,
    Failure,
    RetryDecision,
    decide,
)
from billabex_async._retry_after import parse_retry_after
from billabex_async.errors import AuthRefreshError, OutcomeUnknownError, make_status_error

__all__ = ["RequestEvent", "Response", "Transport"]

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


@attrs.define
class _Call:
    """One logical request across its attempts: what it sends and what it learnt."""

    method: str
    path: str
    url: URL
    data: str | None
    headers: dict[str, str]
    max_retries: int
    started: float = attrs.field(factory=time.monotonic)
    attempt: int = 0
    retries_done: int = 0
    refreshed: bool = False
    outcome_unknown: bool = False  # an earlier attempt may have been applied
    idempotency_key: str | None = None  # the same on every attempt of a write
    replay_safe: bool = False  # the server honours the key: a repeat is answered, not applied


@attrs.frozen
class _Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class Transport:
    """Sends requests for the resources: one place for auth, limiting, retries.

    The limiter slot is taken *before* the aiohttp call (so waiting for a slot
    never eats into the request timeout) and handed back when the response
    headers arrive, with the server's X-RateLimit-* headers. A per-request
    middleware counts aiohttp's own hidden resends (see ``count_attempts``).
    """

    __slots__ = (
        "_api_url",
        "_auth",
        "_headers",
        "_idempotent_creates",
        "_limiter",
        "_max_retries",
        "_max_retry_after",
        "_on_request",
        "_retry_budget",
        "_session",
        "_sleep",
        "_timeout",
    )

    def __init__(
        self,
        *,
        session_factory: Callable[[], aiohttp.ClientSession],
        api_url: URL,
        auth: TokenSource,
        limiter: Limiter | None,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
        max_retries: int,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
        max_retry_after: float = MAX_RETRY_AFTER,
        on_request: Callable[[RequestEvent], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        idempotent_creates: bool = True,
    ) -> None:
        self._session = session_factory
        self._api_url = api_url
        self._auth = auth
        self._limiter = limiter
        self._headers = dict(headers)
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_budget = retry_budget
        self._max_retry_after = max_retry_after
        self._on_request = on_request
        self._sleep = sleep  # injectable: tests run backoff on virtual time
        self._idempotent_creates = idempotent_creates

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter shared by every request, or None when disabled."""
        return self._limiter

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        params: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """Send ``method path`` until it succeeds or the retry policy gives up.

        A write carries ``idempotency_key`` (one is generated when None) on
        every attempt. Returns the 2xx response; raises an ``APIStatusError``
        subclass for an error status, ``APIConnectionError``/``APITimeoutError``
        when no answer came, ``OutcomeUnknownError`` when a create may have
        been applied.
        """
        call = self._prepare(method, path, json_body, params, max_retries, idempotency_key)
        while True:
            call.attempt += 1
            token = await self._auth.get()
            call.headers["Authorization"] = f"Bearer {token}"
            try:
                answer = await self._send_once(call)
            except TransportFailure as failure:
                delay: float | None = self._after_failure(call, failure)
            else:
                result = await self._after_answer(call, answer, token)
                if isinstance(result, Response):
                    return result
                delay = result
            if delay is not None:  # None: replay at once (fresh token), not a retry
                call.retries_done += 1
                await self._sleep(delay)

    def _prepare(
        self,
        method: str,
        path: str,
        json_body: object,
        params: Mapping[str, str] | None,
        max_retries: int | None,
        idempotency_key: str | None = None,
    ) -> _Call:
        # Encoded once: every attempt sends these exact bytes with its key.
        data = None if json_body is None else encode_json(json_body)
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        key = None
        if method in WRITE_METHODS:
            # Every attempt reuses these headers (aiohttp's own resend and the
            # replay after a token refresh too): one key per logical write.
            key = idempotency_key or new_idempotency_key()
            headers[IDEMPOTENCY_HEADER] = key
        url = self._api_url.joinpath(path.lstrip("/"), encoded=True)
        if params:
            url = url.with_query(params)
        retries = self._max_retries if max_retries is None else max_retries
        call = _Call(method, path, url, data, headers, retries)
        call.idempotency_key = key
        call.replay_safe = key is not None and self._idempotent_creates
        return call

    async def _send_once(self, call: _Call) -> _Answer:
        """One attempt: a limiter slot, the request, the body. Raises TransportFailure."""
        waited = await self._acquire()
        sent_at = time.monotonic()
        holding = self._limiter is not None  # our slot is still in flight
        attempts = Attempts()
        session = self._session()
        middlewares = (
            *getattr(session, "_middlewares", ()),  # per-request ones replace them
            count_attempts(attempts, self._limiter),
        )
        try:
            with map_aiohttp_errors(call.method, call.path):
                async with session.request(
                    call.method,
                    call.url,
                    data=call.data,
                    headers=call.headers,
                    timeout=self._timeout,
                    middlewares=middlewares,
                ) as resp:
                    holding = False
                    self._release(resp.headers)
                    answer = _Answer(resp.status, resp.headers, await resp.read())
        except TransportFailure as failure:
            error = str(failure.error)
            self._emit(call, None, sent_at, waited, None, error)
            raise
        finally:
            if holding:  # no response: the send may still have arrived
                self._release(None)
            # aiohttp resent after the connection dropped: the first send may
            # have been applied.
            call.outcome_unknown = call.outcome_unknown or attempts.resent
        remaining = int_header(answer.headers, "X-RateLimit-Remaining")
        self._emit(call, answer.status, sent_at, waited, remaining, None)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d attempt=%d waited=%.3fs elapsed=%.3fs remaining=%s",
                call.method, call.path, answer.status, call.attempt, waited,
                time.monotonic() - sent_at, remaining,
            )  # fmt: skip
        return answer

    def _after_failure(self, call: _Call, failure: TransportFailure) -> float:
        """The delay before retrying an attempt that got no answer; raises when final."""
        if failure.failure is Failure.UNKNOWN:
            call.outcome_unknown = True
        decision = self._decide(call, failure.failure)
        logger.debug(
            "%s %s attempt %d failed: %s", call.method, call.path, call.attempt, decision.reason
        )
        if decision.retry:
            return decision.delay
        if call.outcome_unknown and call.method == "POST":
            raise self._unknown(call, decision.reason) from failure.error
        raise failure.error from failure.__cause__

    async def _after_answer(
        self, call: _Call, answer: _Answer, token: str
    ) -> Response | float | None:
        """The response, or the delay before the next attempt (None: at once); raises when final."""
        status, headers = answer.status, answer.headers
        if 200 <= status < 300:
            return Response(status=status, headers=headers, body=answer.body)
        if status == 404 and call.method == "DELETE" and call.outcome_unknown:
            # An earlier attempt whose answer was lost did delete it.
            logger.debug("DELETE %s -> 404 after an unknown outcome: already deleted", call.path)
            return Response(status=204, headers=headers, body=b"")
        error = make_status_error(
            status, answer.body, headers=headers, method=call.method, path=call.path
        )
        if status == 401:
            if not self._auth.can_refresh or call.refreshed:
                raise error
            call.refreshed = True
            try:
                await self._auth.refresh(token)
            except AuthRefreshError as exc:
                raise error from exc
            logger.info("%s %s -> 401: token refreshed, replaying", call.method, call.path)
            return None
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if status == 429 and self._limiter is not None:
            wait = 1.0 if retry_after is None else retry_after
            self._limiter.pause(min(wait, self._max_retry_after))
            retry_after = 0.0  # the limiter's pause holds this request and all others
        earlier_unknown = call.outcome_unknown
        if status in (502, 504):
            call.outcome_unknown = True  # a gateway lost the answer, not the request
        decision = self._decide(call, Failure.STATUS, status=status, retry_after=retry_after)
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
        return decision.delay

    def _decide(
        self,
        call: _Call,
        failure: Failure,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> RetryDecision:
        """The retry policy's verdict on this call's latest attempt, with this client's bounds."""
        return decide(
            method=call.method,
            failure=failure,
            status=status,
            retry_after=retry_after,
            retries_done=call.retries_done,
            max_retries=call.max_retries,
            elapsed=time.monotonic() - call.started,
            budget=self._retry_budget,
            max_retry_after=self._max_retry_after,
            replay_safe=call.replay_safe,
        )

    def _unknown(self, call: _Call, reason: str) -> OutcomeUnknownError:
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

    async def _acquire(self) -> float:
        if self._limiter is None:
            return 0.0
        start = time.monotonic()
        await self._limiter.acquire()
        return time.monotonic() - start

    def _release(self, headers: Mapping[str, str] | None) -> None:
        limiter = self._limiter
        if limiter is None:
            return
        limiter.release()
        if headers is not None:
            reset = headers.get("X-RateLimit-Reset")
            limiter.observe(
                limit=int_header(headers, "X-RateLimit-Limit"),
                remaining=int_header(headers, "X-RateLimit-Remaining"),
                reset=float(reset) if reset is not None and reset.isdigit() else None,
            )

    def _emit(
        self,
        call: _Call,
        status: int | None,
        sent_at: float,
        waited: float,
        remaining: int | None,
        error: str | None,
    ) -> None:
        if self._on_request is None:
            return
        event = RequestEvent(
            method=call.method,
            path=call.path,
            attempt=call.attempt,
            status=status,
            elapsed=time.monotonic() - sent_at,
            waited=waited,
            rate_limit_remaining=remaining,
            error=error,
        )
        try:
            self._on_request(event)
        except Exception:
            logger.exception("on_request hook raised; ignored")
