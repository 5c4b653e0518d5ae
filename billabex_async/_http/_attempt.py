"""Transport layer: one call's state, the response it reads, and the event each attempt reports."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from billabex_async._redact import redact
from billabex_async.errors import APIResponseValidationError

__all__ = ["Call", "RequestEvent", "Response", "emit"]

logger = logging.getLogger("billabex_async")


_BOM = b"\xef\xbb\xbf"


class Response:
    """An HTTP answer, body read: what one attempt got, and what the resources read (2xx).

    ``secrets`` are what this request carried (its token): ``redact`` removes
    them from server text, for error messages (a server may echo the token
    back). A plain slotted class, built once per attempt: nothing to check.
    """

    __slots__ = ("body", "headers", "secrets", "status")

    def __init__(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        body: bytes,
        *,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.secrets = secrets

    def __repr__(self) -> str:
        return f"<Response status={self.status} body={len(self.body)} bytes>"

    def redact(self, text: str) -> str:
        """``text`` without the secrets this request carried."""
        return redact(text, self.secrets) if self.secrets else text

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
    """What one attempt did, for ``on_request`` metrics hooks. Holds no token or body.

    Attributes:
        method: The HTTP method.
        path: The path under the API root (ids included, no query).
        attempt: 1 for the first try, 2 for the first retry...
        status: The HTTP status, or None when no answer came back.
        elapsed: Seconds from send to response (or failure).
        waited: Seconds spent waiting for a rate-limit slot before the send.
        rate_limit_remaining: The answer's ``X-RateLimit-Remaining``, if sent.
        error: Why no answer came back (the error's message); None when one did.
    """

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
    headers: CIMultiDict[str] = attrs.field(repr=False)
    max_retries: int
    started: float
    attempt: int = 0
    retries_done: int = 0
    refreshed: bool = False
    outcome_unknown: bool = False  # an earlier attempt may have been applied
    idempotency_key: str | None = None  # the same on every attempt of a write
    replay_safe: bool = False  # the server honours the key: a repeat is answered, not applied


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
