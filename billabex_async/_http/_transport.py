"""Transport layer: send one logical request through auth, limiter and retries."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from billabex_async._http._attempt import (
    Answer,
    Attempts,
    Call,
    RequestEvent,
    Response,
    count_attempts,
    emit,
    sending,
)
from billabex_async._http._auth import TokenSource
from billabex_async._http._body import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_BYTES, read_answer
from billabex_async._http._errors import TransportFailure, map_aiohttp_errors, scrub_chain
from billabex_async._http._headers import count_header, observe_headers
from billabex_async._http._idempotency import (
    IDEMPOTENCY_HEADER,
    WRITE_METHODS,
    encode_json,
    new_idempotency_key,
)
from billabex_async._http._retry import (
    DEFAULT_RETRY_BUDGET,
    MAX_RETRY_AFTER,
    RETRYABLE_STATUSES,
    Failure,
    RetryDecision,
    decide,
)
from billabex_async._http._session import Sessions
from billabex_async._ratelimit import Limiter, Ticket
from billabex_async._redact import redact
from billabex_async._retry_after import parse_retry_after
from billabex_async.errors import (
    AuthRefreshError,
    BillabexError,
    ClientClosedError,
    OutcomeUnknownError,
    make_status_error,
)

__all__ = ["RequestEvent", "Response", "Transport"]

logger = logging.getLogger("billabex_async")

_MAX_CACHED_URLS = 4096  # distinct paths kept joined (each a few hundred bytes)
_CLOSED_IN_FLIGHT = (
    "the client was closed while this request was in flight; it may have reached the server"
)
_UNKNOWN_CREATE = (
    "the connection failed after the request was sent; it may have been applied, "
    "so it was not retried (a retry could duplicate it); send it again with the "
    "same idempotency_key and body"
)
_UNKNOWN_AFTER_RETRIES = (
    "an attempt may have been applied and the retries with the same Idempotency-Key "
    "ran out ({reason}); send it again with the same idempotency_key and body"
)


class Transport:
    """Sends requests for the resources: one place for auth, limiting, retries.

    The limiter slot is taken *before* the aiohttp call (so waiting for a slot
    never eats into the request timeout) and handed back when the response
    headers arrive, with the server's X-RateLimit-* headers, or in a
    ``finally`` on every other path. A middleware, built once per client,
    counts aiohttp's own hidden resends (see ``count_attempts``). Redirects
    are never followed, and bodies are read decompressed up to
    ``max_response_bytes``.
    """

    __slots__ = (
        "_api_url",
        "_auth",
        "_clock",
        "_counter",
        "_headers",
        "_idempotent_creates",
        "_json_headers",
        "_limiter",
        "_max_response_bytes",
        "_max_retries",
        "_max_retry_after",
        "_middlewares",
        "_on_request",
        "_retry_budget",
        "_sessions",
        "_sleep",
        "_timeout",
        "_urls",
    )

    def __init__(
        self,
        *,
        sessions: Sessions,
        api_url: URL,
        auth: TokenSource,
        limiter: Limiter | None,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
        max_retries: int,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        on_request: Callable[[RequestEvent], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        idempotent_creates: bool = True,
    ) -> None:
        self._sessions = sessions
        self._api_url = api_url
        self._auth = auth
        self._limiter = limiter
        self._headers = {**headers, "Accept-Encoding": ACCEPT_ENCODING}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._max_response_bytes = max_response_bytes
        self._clock = clock  # injectable, with sleep: the retry budget on virtual time
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_budget = retry_budget
        self._max_retry_after = max_retry_after
        self._on_request = on_request
        self._sleep = sleep  # injectable: tests run backoff on virtual time
        self._idempotent_creates = idempotent_creates
        # Built once: the resend counter, after the session's own middlewares
        # (per-request middlewares replace them), for the session they came from.
        self._counter = count_attempts(limiter, lambda: self._sessions.closed)
        self._middlewares: tuple[aiohttp.ClientSession | None, tuple[Any, ...]] = (None, ())
        # path -> absolute URL: joining costs microseconds; paths repeat (one
        # per account and verb), and the dict is emptied when it grows large.
        self._urls: dict[str, URL] = {}

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
        subclass for an error status (``UnexpectedRedirectError`` for a 3xx),
        ``APIConnectionError``/``APITimeoutError`` when no answer came,
        ``OutcomeUnknownError`` when a create may have been applied,
        ``APIResponseValidationError`` for an unreadable or oversized 2xx body,
        ``ClientClosedError``/``WrongEventLoopError`` before sending anything
        on a closed client or from another event loop. Nothing raised carries
        the request's headers in its cause chain.
        """
        self._sessions.check()  # before any limiter slot is taken
        call = self._prepare(method, path, json_body, params, max_retries, idempotency_key)
        try:
            return await self._run(call)
        except BillabexError as exc:
            scrub_chain(exc)
            raise

    async def _run(self, call: Call) -> Response:
        while True:
            call.attempt += 1
            if call.attempt > 1:  # the first was checked by request()
                self._sessions.check()  # close() may have run during a backoff
            failure: TransportFailure | None = None
            try:
                answer, token = await self._send_once(call)
            except TransportFailure as exc:
                failure = exc  # handled below, outside this block: no implicit __context__
            if failure is not None:
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
    ) -> Call:
        # Encoded once: every attempt sends these exact bytes with its key.
        data = None if json_body is None else encode_json(json_body)
        headers = dict(self._headers if data is None else self._json_headers)
        key = None
        if method in WRITE_METHODS:
            # Every attempt reuses these headers (aiohttp's own resend and the
            # replay after a token refresh too): one key per logical write.
            key = idempotency_key or new_idempotency_key()
            headers[IDEMPOTENCY_HEADER] = key
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= _MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[path] = self._api_url.joinpath(path.lstrip("/"), encoded=True)
        if params:
            url = url.with_query(params)
        retries = self._max_retries if max_retries is None else max_retries
        call = Call(method, path, url, data, headers, retries, started=self._clock())
        call.idempotency_key = key
        call.replay_safe = key is not None and self._idempotent_creates
        return call

    async def _send_once(self, call: Call) -> tuple[Answer, str]:
        """One attempt: a limiter slot, the request, the body; the token it carried.

        Raises TransportFailure. Every path after the slot is taken (closed
        client, wrong loop, cancellation, an unreadable body, a failed token
        refresh) hands the slot back exactly once.
        """
        waited, ticket = await self._acquire()
        sent_at = time.monotonic()
        attempts = Attempts(holding=self._limiter is not None)
        try:
            # The token is read once the slot is ours: a wait for a slot can
            # outlast the refresh margin, and a token read before it would
            # then expire on the way (a 401 that stops a bulk run).
            token = await self._auth.get()
            call.headers["Authorization"] = f"Bearer {token}"
            session = self._sessions.get()  # closed while waiting for the slot: raises
            middlewares = self._middlewares_for(session)
            with map_aiohttp_errors(call.method, call.path), sending(attempts):
                async with session.request(
                    call.method,
                    call.url,
                    data=call.data,
                    headers=call.headers,
                    timeout=self._timeout,
                    middlewares=middlewares,
                    # A redirect would turn a write into a GET, or re-send the
                    # body and token to another origin: a 3xx is an error.
                    allow_redirects=False,
                    auto_decompress=False,  # read_body inflates, bounded
                    raise_for_status=False,  # even on a caller's session: statuses are ours
                ) as resp:
                    attempts.holding = False
                    self._release(resp.headers, ticket)
                    body = await read_answer(
                        resp, self._max_response_bytes, method=call.method, path=call.path
                    )
                    answer = Answer(resp.status, resp.headers, body)
        except TransportFailure as failure:
            error = str(failure.error)
            emit(self._on_request, call, None, sent_at, waited, None, error)
            if self._sessions.closed:
                raise ClientClosedError(f"{call.method} {call.path}: {_CLOSED_IN_FLIGHT}") from None
            raise
        finally:
            if attempts.holding:  # no response: the send may still have arrived
                attempts.holding = False
                self._release(None)
            # aiohttp resent after the connection dropped: the first send may
            # have been applied.
            call.outcome_unknown = call.outcome_unknown or attempts.resent
        debug = logger.isEnabledFor(logging.DEBUG)
        if self._on_request is None and not debug:
            return answer, token  # nobody reads the event: skip building it
        remaining = count_header(answer.headers, "X-RateLimit-Remaining")
        emit(self._on_request, call, answer.status, sent_at, waited, remaining, None)
        if debug:
            logger.debug(
                "%s %s -> %d attempt=%d waited=%.3fs elapsed=%.3fs remaining=%s",
                call.method, call.path, answer.status, call.attempt, waited,
                time.monotonic() - sent_at, remaining,
            )  # fmt: skip
        return answer, token

    def _middlewares_for(self, session: aiohttp.ClientSession) -> tuple[Any, ...]:
        """The session's own middlewares, then the resend counter (cached per session)."""
        cached_for, middlewares = self._middlewares
        if cached_for is not session:
            own = tuple(getattr(session, "_middlewares", ()))
            middlewares = (*own, self._counter)
            self._middlewares = (session, middlewares)
        return middlewares

    def _after_failure(self, call: Call, failure: TransportFailure) -> float:
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
        self, call: Call, answer: Answer, token: str
    ) -> Response | float | None:
        """The response, or the delay before the next attempt (None: at once); raises when final."""
        status, headers = answer.status, answer.headers
        if 200 <= status < 300:
            hide = functools.partial(redact, secrets=(token,))
            return Response(status=status, headers=headers, body=answer.body, redact=hide)
        if status == 404 and call.method == "DELETE" and call.outcome_unknown:
            # An earlier attempt whose answer was lost did delete it.
            logger.debug("DELETE %s -> 404 after an unknown outcome: already deleted", call.path)
            return Response(status=204, headers=headers, body=b"")
        error = make_status_error(
            status,
            answer.body,
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
            return None
        retry_after = parse_retry_after(headers.get("Retry-After"))
        paused = status == 429 and self._limiter is not None
        if paused:
            assert self._limiter is not None
            retry_after = min(1.0 if retry_after is None else retry_after, self._max_retry_after)
            self._limiter.pause(retry_after)
        earlier_unknown = call.outcome_unknown
        if status in (502, 504):
            call.outcome_unknown = True  # a gateway lost the answer, not the request
        # With a limiter, the pause holds this request as long as a sleep would:
        # the budget is charged the same.
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
        return 0.0 if paused else decision.delay  # paused: the limiter does the waiting

    def _decide(
        self,
        call: Call,
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
            elapsed=self._clock() - call.started,
            budget=self._retry_budget,
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

    async def _acquire(self) -> tuple[float, Ticket | None]:
        """Seconds waited for a slot, and the slot's ticket for ``observe``."""
        if self._limiter is None:
            return 0.0, None
        start = time.monotonic()
        ticket = await self._limiter.acquire()
        return time.monotonic() - start, ticket

    def _release(self, headers: Mapping[str, str] | None, ticket: Ticket | None = None) -> None:
        limiter = self._limiter
        if limiter is None:
            return
        limiter.release()
        if headers is not None:
            observe_headers(limiter, headers, sent=ticket)
