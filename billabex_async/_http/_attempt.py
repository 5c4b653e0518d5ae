"""Transport layer: what one attempt returns and reports, and aiohttp's hidden resend."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from billabex_async._ratelimit import Limiter
from billabex_async.errors import APIResponseValidationError

__all__ = [
    "Answer",
    "Attempts",
    "Call",
    "RequestEvent",
    "Response",
    "count_attempts",
    "emit",
    "sending",
]

logger = logging.getLogger("billabex_async")


_BOM = b"\xef\xbb\xbf"


def _as_is(text: str) -> str:
    return text


@attrs.frozen
class Response:
    """An HTTP answer, body read: what the transport hands to the resources (2xx).

    ``redact`` removes the secrets this request carried from server text, for
    error messages (a server may echo the token back).
    """

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    redact: Callable[[str], str] = attrs.field(default=_as_is, repr=False, eq=False, kw_only=True)

    def text(self, limit: int = 2000) -> str:
        """The body as text for an error: bad bytes replaced, secrets redacted, ``limit`` chars."""
        return self.redact(self.body.decode("utf-8", "replace"))[:limit]

    def json(self) -> Any:
        """The body parsed as JSON (None when empty).

        Raises ``APIResponseValidationError`` when it is not UTF-8 JSON (a
        proxy's HTML page, a truncated body).
        """
        if not self.body:
            return None
        body = self.body
        try:
            # A leading BOM is tolerated; without one, the plain codec (C) reads
            # exactly what utf-8-sig (a Python-level codec) would.
            text = body.decode("utf-8-sig" if body.startswith(_BOM) else "utf-8")
            return json.loads(text)
        except UnicodeDecodeError as exc:
            problem = f"is not UTF-8 (byte {exc.start})"
        except ValueError as exc:  # JSONDecodeError; the text itself stays out of the message
            problem = f"is not JSON ({type(exc).__name__} at position {getattr(exc, 'pos', '?')})"
        kind = self.headers.get("Content-Type", "no Content-Type").split(";")[0]
        raise APIResponseValidationError(
            f"the {self.status} response body {problem}; Content-Type: {kind[:60]}",
            status=self.status,
            body=self.text(),
        ) from None


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


@attrs.define
class Call:
    """One logical request across its attempts: what it sends and what it learnt."""

    method: str
    path: str
    url: URL
    # Never in a repr: the headers hold the bearer token, the body contact data.
    data: str | None = attrs.field(repr=False)
    headers: dict[str, str] = attrs.field(repr=False)
    max_retries: int
    started: float
    attempt: int = 0
    retries_done: int = 0
    refreshed: bool = False
    outcome_unknown: bool = False  # an earlier attempt may have been applied
    idempotency_key: str | None = None  # the same on every attempt of a write
    replay_safe: bool = False  # the server honours the key: a repeat is answered, not applied


@attrs.frozen
class Answer:
    """One attempt's HTTP answer, body read (any status)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def emit(
    hook: Callable[[RequestEvent], None] | None,
    call: Call,
    status: int | None,
    sent_at: float,
    waited: float,
    remaining: int | None,
    error: str | None,
) -> None:
    """Tell the ``on_request`` hook what this attempt did; a hook that raises is logged."""
    if hook is None:
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
        hook(event)
    except Exception:
        logger.exception("on_request hook raised; ignored")


class Attempts:
    """Physical sends of one attempt, as seen inside aiohttp's own resend loop."""

    __slots__ = ("count", "holding", "resent")

    def __init__(self, *, holding: bool) -> None:
        self.count = 0
        self.resent = False
        # True while this attempt holds a limiter slot that still has to be
        # released: the middleware and the transport both hand it back, and
        # it must be handed back exactly once.
        self.holding = holding


# The attempt the current task is sending: one middleware per transport reads
# it, instead of a new closure per request (aiohttp runs the middleware in the
# task that called ``session.request``).
_CURRENT: ContextVar[Attempts | None] = ContextVar("billabex_async_attempts", default=None)


class sending:
    """Make ``attempts`` the one the ``count_attempts`` middleware counts, in this task.

    A class rather than ``@contextmanager``: it wraps every attempt.
    """

    __slots__ = ("_attempts", "_token")

    def __init__(self, attempts: Attempts) -> None:
        self._attempts = attempts

    def __enter__(self) -> None:
        self._token = _CURRENT.set(self._attempts)

    def __exit__(self, *exc_info: object) -> None:
        _CURRENT.reset(self._token)


def count_attempts(
    limiter: Limiter | None, closed: Callable[[], bool] = lambda: False
) -> aiohttp.ClientMiddlewareType:
    """A client middleware that sees every physical send of the request being ``sending``.

    aiohttp silently resends an idempotent request once when a kept-alive
    connection drops, inside its own loop, below anything that wraps the
    session. A middleware runs inside that loop, so the resend is counted:
    the first send may have reached the server, so it keeps its slot (as
    finished now) and the resend takes a new one; and the caller learns that
    the first send's outcome is unknown. Once ``closed()`` (the client was
    closed), nothing is resent.
    """

    async def middleware(
        req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        attempts = _CURRENT.get()
        if attempts is None:  # not sent by the transport: nothing to count
            return await handler(req)
        attempts.count += 1
        if attempts.count > 1:
            attempts.resent = True
            if closed():
                raise aiohttp.ClientConnectionError("the client was closed: not resent")
            logger.debug(
                "%s %s: aiohttp resends after a dropped connection", req.method, req.url.path
            )
            if limiter is not None:
                attempts.holding = False
                limiter.release()
                await limiter.acquire()
                attempts.holding = True
        return await handler(req)

    return middleware
