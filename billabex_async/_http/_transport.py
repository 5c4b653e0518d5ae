"""Transport layer: send one logical request through its session, auth, limiter and retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from billabex_async._http._attempt import Call, RequestEvent, Response, emit
from billabex_async._http._auth import TokenSource
from billabex_async._http._body import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_RESPONSE_BYTES,
    fits_one_read,
    read_answer,
)
from billabex_async._http._errors import TransportFailure, map_aiohttp_errors, scrub_chain
from billabex_async._http._headers import count_header
from billabex_async._http._idempotency import (
    IDEMPOTENCY_HEADER,
    WRITE_METHODS,
    new_idempotency_key,
)
from billabex_async._http._lease import Lease, close_limiter, count_sends
from billabex_async._http._outcome import Done, Outcome, RetryAfter, Rules
from billabex_async._http._retry import DEFAULT_RETRY_BUDGET, MAX_RETRY_AFTER
from billabex_async._http._session import Sessions, SharedSession
from billabex_async._ratelimit import Limiter
from billabex_async.errors import BillabexError, ClientClosedError

if TYPE_CHECKING:
    from billabex_async._otel._telemetry import Telemetry

__all__ = ["RequestEvent", "Response", "Transport"]

logger = logging.getLogger("billabex_async")

_MAX_CACHED_URLS = 4096  # distinct paths kept joined (each a few hundred bytes)
_CLOSED_IN_FLIGHT = (
    "the client was closed while this request was in flight; it may have reached the server"
)


class Transport:
    """Sends requests for the resources: one place for session, auth, limiting, retries.

    It owns the session it opens (a caller's ``session`` or a
    ``shared_session`` is used, never closed) and the ``limiter`` it is given
    unless ``owns_limiter`` is False; ``close()`` closes what it owns. Each
    attempt holds a ``Lease`` on a limiter slot, taken before the aiohttp
    call. Redirects are never followed, and bodies are read decompressed up
    to ``max_response_bytes``.
    """

    __slots__ = (
        "_api_url",
        "_auth",
        "_clock",
        "_headers",
        "_idempotent_creates",
        "_is_closed",
        "_json_headers",
        "_limiter",
        "_max_response_bytes",
        "_max_retries",
        "_on_request",
        "_owns_limiter",
        "_rules",
        "_sessions",
        "_sleep",
        "_telemetry",
        "_timeout",
        "_urls",
    )

    def __init__(
        self,
        *,
        api_url: URL,
        auth: TokenSource,
        limiter: Limiter | None,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
        max_retries: int,
        session: aiohttp.ClientSession | None = None,
        shared_session: SharedSession | None = None,
        max_connections: int = 100,
        proxy: str | None = None,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        on_request: Callable[[RequestEvent], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        idempotent_creates: bool = True,
        owns_limiter: bool = True,
        telemetry: Telemetry | None = None,
    ) -> None:
        # The own session counts aiohttp's hidden resends with a middleware of
        # its own, a shared one with the same middleware; a caller's session
        # runs its middlewares as they are.
        self._sessions = Sessions(
            session,
            max_connections,
            proxy=proxy,
            middlewares=(count_sends(),),
            shared=shared_session,
        )
        self._is_closed = lambda: self._sessions.closed
        self._owns_limiter = owns_limiter
        self._api_url = api_url
        self._auth = auth
        self._limiter = limiter
        # CIMultiDicts, copied per call: aiohttp turns a plain dict into one
        # on every request, in Python (about 8k instructions for six headers).
        self._headers = CIMultiDict({**headers, "Accept-Encoding": ACCEPT_ENCODING})
        self._json_headers = CIMultiDict({**self._headers, "Content-Type": "application/json"})
        self._max_response_bytes = max_response_bytes
        self._clock = clock  # injectable, with sleep: the retry budget on virtual time
        self._timeout = timeout
        self._max_retries = max_retries
        self._rules = Rules(auth=auth, budget=retry_budget, max_retry_after=max_retry_after)
        self._on_request = on_request
        self._sleep = sleep  # injectable: tests run backoff on virtual time
        self._idempotent_creates = idempotent_creates
        self._telemetry = telemetry  # OpenTelemetry spans and metrics; None: off
        # path -> absolute URL: joining costs microseconds; paths repeat (one
        # per account and verb), and the dict is emptied when it grows large.
        self._urls: dict[str, URL] = {}

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter shared by every request, or None when disabled."""
        return self._limiter

    @property
    def telemetry(self) -> Telemetry | None:
        """The OpenTelemetry hooks requests report to, or None when telemetry is off."""
        return self._telemetry

    def open(self) -> aiohttp.ClientSession:
        """The session requests go through, opened now if it is our own; raises once closed."""
        return self._sessions.get()

    async def close(self) -> None:
        """No more requests: close the own session, then the limiter's connections. Idempotent."""
        await self._sessions.close()
        if self._owns_limiter:
            await close_limiter(self._limiter)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        params: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> Awaitable[Response]:
        """Send ``method path`` until it succeeds or the retry policy gives up.

        ``body`` is the JSON text to send (``write_body``'s), as is. A write
        carries ``idempotency_key`` (one is generated when None) on every
        attempt. Returns the 2xx response; raises an ``APIStatusError``
        subclass for an error status (``UnexpectedRedirectError`` for a 3xx),
        ``APIConnectionError``/``APITimeoutError`` when no answer came,
        ``OutcomeUnknownError`` when a create may have been applied,
        ``APIResponseValidationError`` for an unreadable or oversized 2xx body,
        ``ClientClosedError``/``WrongEventLoopError`` before sending anything
        on a closed client or from another event loop. Nothing raised carries
        the request's headers in its cause chain.

        A plain function returning the run's awaitable, which the caller
        awaits at once: one coroutine frame fewer per request.
        """
        self._sessions.check()  # first: a closed client takes no slot and reads no token
        call = self._prepare(method, path, body, params, max_retries, idempotency_key)
        telemetry = self._telemetry
        if telemetry is None or telemetry.idle():  # no span to open: no frame for one
            return self._run(call)
        return telemetry.traced(self._run, call, self._sessions.get())

    async def _run(self, call: Call) -> Response:
        # One frame for the attempts and the scrub: a try block costs nothing until it raises.
        try:
            while True:
                call.attempt += 1
                if call.attempt > 1:  # the first was checked by request()
                    self._sessions.check()  # close() may have run during a backoff
                failure: TransportFailure | None = None
                try:
                    response, token = await self._send_once(call)
                except TransportFailure as exc:
                    failure = exc  # handled below, outside this block: no implicit __context__
                outcome: Outcome
                if failure is not None:
                    outcome = self._rules.after_failure(call, failure, now=self._clock())
                elif 200 <= response.status < 300:
                    return response  # the common answer: no policy to apply, no outcome built
                else:
                    outcome = await self._rules.after_answer(
                        call, response, token, limiter=self._limiter, now=self._clock()
                    )
                if isinstance(outcome, Done):
                    return outcome.response
                if isinstance(outcome, RetryAfter):
                    call.retries_done += 1
                    if self._telemetry is not None:
                        self._telemetry.retry(call, outcome.delay)
                    await self._sleep(outcome.delay)
                # Replay: at once, with the refreshed token; not a retry.
        except BillabexError as exc:
            scrub_chain(exc)  # what reaches the caller carries no request headers
            raise

    def _prepare(
        self,
        method: str,
        path: str,
        data: str | None,
        params: Mapping[str, str] | None,
        max_retries: int | None,
        idempotency_key: str | None = None,
    ) -> Call:
        # Encoded once, by the caller: every attempt sends these exact bytes with its key.
        headers = (self._headers if data is None else self._json_headers).copy()
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

    async def _send_once(self, call: Call) -> tuple[Response, str]:
        """One attempt: a lease, the request, the body; and the token it carried.

        Raises TransportFailure. Every path after the lease is taken (closed
        client, wrong loop, cancellation, an unreadable body, a failed token
        refresh) hands the slot back exactly once.
        """
        limiter = self._limiter  # none: no coroutine to await for a slot
        closed = self._is_closed
        lease = Lease.unlimited(closed) if limiter is None else await Lease.take(limiter, closed)
        sent_at = time.monotonic()
        try:
            # The token is read once the slot is ours: a wait for a slot can
            # outlast the refresh margin, and a token read before it would
            # then expire on the way (a 401 that stops a bulk run).
            token = self._auth.fixed or await self._auth.get()
            call.headers["Authorization"] = f"Bearer {token}"
            session = self._sessions.get()  # closed while waiting for the slot: raises
            with map_aiohttp_errors(call.method, call.path), lease:
                async with session.request(
                    call.method,
                    call.url,
                    data=call.data,
                    headers=call.headers,
                    timeout=self._timeout,
                    # A redirect would turn a write into a GET, or re-send the
                    # body and token to another origin: a 3xx is an error.
                    allow_redirects=False,
                    auto_decompress=False,  # read_body inflates, bounded
                    raise_for_status=False,  # even on a caller's session: statuses are ours
                ) as resp:
                    lease.answered(resp.headers)
                    limit = self._max_response_bytes
                    if fits_one_read(resp, limit):  # the common answer: no frames to read it
                        body = await resp.read()
                    else:
                        body = await read_answer(resp, limit, method=call.method, path=call.path)
                    response = Response(resp.status, resp.headers, body, secrets=(token,))
        except TransportFailure as failure:
            error = str(failure.error)
            emit(self._on_request, call, None, sent_at, lease.waited, None, error)
            if self._telemetry is not None:
                self._telemetry.attempt(call, None, failure.error, lease.waited, sent_at)
            if self._sessions.closed:
                raise ClientClosedError(f"{call.method} {call.path}: {_CLOSED_IN_FLIGHT}") from None
            raise
        finally:
            lease.lost()  # no answer (a no-op after one): the send may still have arrived
            # aiohttp resent after the connection dropped: the first send may
            # have been applied.
            call.outcome_unknown = call.outcome_unknown or lease.resent
        if self._telemetry is not None:
            self._telemetry.attempt(call, response.status, None, lease.waited, sent_at)
        debug = logger.isEnabledFor(logging.DEBUG)
        if self._on_request is None and not debug:
            return response, token  # nobody reads the event: skip building it
        remaining = count_header(response.headers, "X-RateLimit-Remaining")
        emit(self._on_request, call, response.status, sent_at, lease.waited, remaining, None)
        if debug:
            logger.debug(
                "%s %s -> %d attempt=%d waited=%.3fs elapsed=%.3fs remaining=%s",
                call.method, call.path, response.status, call.attempt, lease.waited,
                time.monotonic() - sent_at, remaining,
            )  # fmt: skip
        return response, token
