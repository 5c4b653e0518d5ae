"""Transport layer: send one logical request through auth, limiter and retries."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from billabex_async._http._auth import TokenSource
from billabex_async._http._errors import TransportFailure, map_aiohttp_errors
from billabex_async._http._limiter import Limiter
from billabex_async._http._retry import DEFAULT_RETRY_BUDGET, MAX_RETRY_AFTER, Failure, decide
from billabex_async._retry_after import parse_retry_after
from billabex_async.errors import (
    AuthRefreshError,
    OutcomeUnknownError,
    make_status_error,
)

__all__ = ["RequestEvent", "Response", "Transport"]

logger = logging.getLogger("billabex_async")


@attrs.frozen
class Response:
    """A successful (2xx) answer, body read."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


@attrs.frozen
class RequestEvent:
    """What one attempt did, for ``on_request`` metrics hooks. Holds no token or body."""

    method: str
    path: str
    attempt: int  # 1 for the first try
    status: int | None  # None when no HTTP answer came back
    elapsed: float  # seconds from send to response (or failure)
    waited: float  # seconds spent waiting for a rate-limit slot
    rate_limit_remaining: int | None
    error: str | None


class _Attempts:
    """Physical sends of one attempt, as seen inside aiohttp's own resend loop."""

    __slots__ = ("count", "resent")

    def __init__(self) -> None:
        self.count = 0
        self.resent = False


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


class Transport:
    """Sends requests for the resources: one place for auth, limiting, retries.

    The limiter slot is taken *before* the aiohttp call (so waiting for a
    slot never eats into the request timeout) and consumed by a per-request
    client middleware, which runs once per physical attempt: when aiohttp
    silently resends an idempotent request on a dropped kept-alive
    connection, the middleware takes a second slot for the resend, so every
    request the server sees is counted.
    """

    __slots__ = (
        "_api_url",
        "_auth",
        "_headers",
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
    ) -> Response:
        """Send ``method path`` until it succeeds or the retry policy gives up.

        Returns the 2xx response; raises an ``APIStatusError`` subclass for an
        error status, ``APIConnectionError``/``APITimeoutError`` when no answer
        came, ``OutcomeUnknownError`` when a create may have been applied.
        """
        retries_allowed = self._max_retries if max_retries is None else max_retries
        data = None if json_body is None else json.dumps(json_body, separators=(",", ":"))
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        if method == "POST":
            # The same key on every attempt of this call. Whether the contacts
            # endpoints honour it is unknown, so POST is still never retried
            # once it may have reached the server.
            headers["Idempotency-Key"] = str(uuid.uuid4())
        url = self._api_url.joinpath(path.lstrip("/"), encoded=True)
        if params:
            url = url.with_query(params)
        started = time.monotonic()
        retries_done = 0
        refreshed = False
        outcome_unknown = False  # an earlier attempt may have been applied
        attempt = 0
        while True:
            attempt += 1
            token = await self._auth.get()
            headers["Authorization"] = f"Bearer {token}"
            waited = await self._acquire()
            sent_at = time.monotonic()
            status: int | None = None
            holding = self._limiter is not None  # our slot is still in flight
            attempts = _Attempts()
            try:
                with map_aiohttp_errors(method, path):
                    async with self._session().request(
                        method,
                        url,
                        data=data,
                        headers=headers,
                        timeout=self._timeout,
                        middlewares=self._middlewares(attempts),
                    ) as resp:
                        holding = False
                        self._release(resp.headers)
                        status = resp.status
                        body = await resp.read()
                        resp_headers = resp.headers
            except TransportFailure as failure:
                outcome_unknown = outcome_unknown or attempts.resent
                if holding:
                    holding = False
                    self._release(None)
                self._emit(method, path, attempt, None, sent_at, waited, None, str(failure.error))
                if failure.failure is Failure.UNKNOWN:
                    outcome_unknown = True
                decision = decide(
                    method=method,
                    failure=failure.failure,
                    status=None,
                    retry_after=None,
                    retries_done=retries_done,
                    max_retries=retries_allowed,
                    elapsed=time.monotonic() - started,
                    budget=self._retry_budget,
                )
                logger.debug("%s %s attempt %d failed: %s", method, path, attempt, decision.reason)
                if not decision.retry:
                    if failure.failure is Failure.UNKNOWN and method == "POST":
                        raise OutcomeUnknownError(
                            "the connection failed after the request was sent; it may have "
                            "been applied, so it was not retried (a retry could duplicate it)",
                            method=method,
                            path=path,
                        ) from failure.error
                    raise failure.error from failure.__cause__
                retries_done += 1
                await self._sleep(decision.delay)
                continue
            except BaseException:
                if holding:  # cancelled mid-request: the send may have arrived
                    self._release(None)
                raise

            # aiohttp resent after the connection dropped: the first send may
            # have been applied.
            outcome_unknown = outcome_unknown or attempts.resent
            remaining = _int_header(resp_headers, "X-RateLimit-Remaining")
            self._emit(method, path, attempt, status, sent_at, waited, remaining, None)
            if 200 <= status < 300:
                logger.debug(
                    "%s %s -> %d attempt=%d waited=%.3fs elapsed=%.3fs remaining=%s",
                    method, path, status, attempt, waited, time.monotonic() - sent_at, remaining,
                )  # fmt: skip
                return Response(status=status, headers=resp_headers, body=body)
            if status == 404 and method == "DELETE" and outcome_unknown:
                # An earlier attempt whose answer was lost did delete it.
                logger.debug("DELETE %s -> 404 after an unknown outcome: already deleted", path)
                return Response(status=204, headers=resp_headers, body=b"")
            error = make_status_error(status, body, headers=resp_headers, method=method, path=path)
            if status == 401 and self._auth.can_refresh and not refreshed:
                refreshed = True
                try:
                    await self._auth.refresh(token)
                except AuthRefreshError as exc:
                    raise error from exc
                logger.info("%s %s -> 401: token refreshed, replaying", method, path)
                continue
            if status == 401:
                raise error
            retry_after = parse_retry_after(resp_headers.get("Retry-After"))
            if status == 429 and self._limiter is not None:
                wait = 1.0 if retry_after is None else retry_after
                self._limiter.pause(min(wait, self._max_retry_after))
            if status in (502, 504):
                outcome_unknown = True  # a gateway lost the answer, not the request
            if status == 429 and self._limiter is not None:
                retry_after = 0.0  # the limiter's pause holds this request and all others
            decision = decide(
                method=method,
                failure=Failure.STATUS,
                status=status,
                retry_after=retry_after,
                retries_done=retries_done,
                max_retries=retries_allowed,
                elapsed=time.monotonic() - started,
                budget=self._retry_budget,
                max_retry_after=self._max_retry_after,
            )
            if not decision.retry:
                logger.debug("%s %s -> %d, not retried: %s", method, path, status, decision.reason)
                raise error
            logger.info("%s %s -> %d, retrying: %s", method, path, status, decision.reason)
            retries_done += 1
            await self._sleep(decision.delay)

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
                limit=_int_header(headers, "X-RateLimit-Limit"),
                remaining=_int_header(headers, "X-RateLimit-Remaining"),
                reset=float(reset) if reset is not None and reset.isdigit() else None,
            )

    def _middlewares(self, attempts: _Attempts) -> tuple[aiohttp.ClientMiddlewareType, ...]:
        """Per-request middlewares: the session's own, then our attempt counter."""
        own: tuple[aiohttp.ClientMiddlewareType, ...] = tuple(
            getattr(self._session(), "_middlewares", ())  # kept: per-request ones replace them
        )
        limiter = self._limiter

        async def count_attempts(
            req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
        ) -> aiohttp.ClientResponse:
            attempts.count += 1
            if attempts.count > 1:
                # aiohttp is resending after a dropped connection. The first
                # send may have reached the server: it keeps its slot (as
                # finished now) and the resend takes a new one.
                attempts.resent = True
                logger.debug(
                    "%s %s: aiohttp resends after a dropped connection", req.method, req.url.path
                )
                if limiter is not None:
                    limiter.release()
                    await limiter.acquire()
            return await handler(req)

        return (*own, count_attempts)

    def _emit(
        self,
        method: str,
        path: str,
        attempt: int,
        status: int | None,
        sent_at: float,
        waited: float,
        remaining: int | None,
        error: str | None,
    ) -> None:
        if self._on_request is None:
            return
        event = RequestEvent(
            method=method,
            path=path,
            attempt=attempt,
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
