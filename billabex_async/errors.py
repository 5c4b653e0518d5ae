"""Errors: every exception the SDK raises, rooted at BillabexError.

::

    BillabexError
    ├── InvalidRequestError (also ValueError)   bad input, caught before sending
    │   └── SyncRefusedError                    a sync guard refused to delete
    ├── APIConnectionError                      the request got no HTTP answer
    │   ├── APITimeoutError                     ... because a timeout expired
    │   └── OutcomeUnknownError                 ... after a write may have applied
    ├── APIResponseValidationError              a 2xx body that does not fit the model
    │   └── ResponseTooLargeError               ... or is larger than max_response_bytes
    ├── PaginationError (also RuntimeError)     the server's cursors went round in a cycle
    ├── ClientClosedError (also RuntimeError)   the client was closed (before or during a call)
    │   └── PoolClosedError                     ... or the ClientPool it came from
    ├── WrongEventLoopError (also RuntimeError) the client is used from another event loop
    ├── AuthRefreshError                        a token provider could not refresh
    ├── RateLimiterUnavailableError             shared limiter storage (Redis) down, fail-closed
    └── APIStatusError                          the server answered 3xx/4xx/5xx
        ├── BadRequestError            400
        ├── AuthenticationError        401
        ├── PermissionDeniedError      403
        ├── NotFoundError              404
        ├── ConflictError              409
        ├── UnprocessableEntityError   422
        ├── RateLimitError             429   .retry_after
        ├── InternalServerError        >= 500
        └── UnexpectedRedirectError    3xx   .location_host (never followed)

Messages name the method, path, status and the server's message; they never
contain the bearer token: it is never passed to these classes, and server text
that echoes it is redacted before it gets here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from billabex_async._redact import redact
from billabex_async._retry_after import parse_retry_after

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthRefreshError",
    "AuthenticationError",
    "BadRequestError",
    "BillabexError",
    "ClientClosedError",
    "ConflictError",
    "InternalServerError",
    "InvalidRequestError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PaginationError",
    "PermissionDeniedError",
    "PoolClosedError",
    "RateLimitError",
    "RateLimiterUnavailableError",
    "ResponseTooLargeError",
    "SyncRefusedError",
    "UnexpectedRedirectError",
    "UnprocessableEntityError",
    "WrongEventLoopError",
    "make_status_error",
]

# Header names a request id may come back under; the real one is unpublished.
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id")


class BillabexError(Exception):
    """Base of every error this SDK raises."""


class InvalidRequestError(BillabexError, ValueError):
    """The arguments are invalid; nothing was sent.

    ``field`` names the offending argument when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SyncRefusedError(InvalidRequestError):
    """A sync guard refused the run; nothing was written (no upsert, no delete).

    ``guard`` names it: ``"empty_desired"`` (delete_missing with no desired
    item), ``"max_deletes"`` (more deletes than allowed) or ``"empty_account"``
    (the account would be left with no contact). ``count`` and ``limit`` are
    the deletes planned and allowed; ``field`` is the keyword that overrides
    the guard (None when none does). The message names all three.
    """

    def __init__(
        self,
        message: str,
        *,
        guard: str,
        field: str | None = None,
        count: int | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.guard = guard
        self.count = count
        self.limit = limit


class APIResponseValidationError(BillabexError):
    """The server answered 2xx with a body that does not fit the spec's model."""

    def __init__(self, message: str, *, status: int, body: object) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ResponseTooLargeError(APIResponseValidationError):
    """A 2xx body grew past ``max_response_bytes`` (counted decompressed); reading stopped.

    The request itself was handled by the server: a write was applied, only
    its answer was not read. ``limit`` is the cap, in bytes.
    """

    def __init__(self, message: str, *, status: int, limit: int) -> None:
        super().__init__(message, status=status, body=None)
        self.limit = limit


class PaginationError(BillabexError, RuntimeError):
    """The server handed back a cursor already seen in this walk: it would never end."""


class ClientClosedError(BillabexError, RuntimeError):
    """The client is closed: nothing more is sent.

    Raised for calls made after ``close()``, and for calls in flight when it
    ran (those may have reached the server).
    """


class PoolClosedError(ClientClosedError):
    """The ``ClientPool`` is closed: it opens no more clients."""


class WrongEventLoopError(BillabexError, RuntimeError):
    """The client was used from an event loop other than the one it belongs to.

    A client, its connections and its rate limiter belong to the loop that
    first used it; create one client inside each ``asyncio.run``.
    """


class AuthRefreshError(BillabexError):
    """A token provider could not produce a fresh access token."""


class RateLimiterUnavailableError(BillabexError):
    """The shared rate-limit storage (Redis) did not answer; nothing was sent.

    Raised only with ``RateLimit(..., on_storage_error="raise")``: sending
    without the shared count could push every process past the server's limit.
    The default, ``"fallback"``, limits each process locally instead.
    """


class APIConnectionError(BillabexError):
    """The request got no HTTP response (DNS, refused, reset, TLS...)."""

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: {message}")
        self.method = method
        self.path = path


class APITimeoutError(APIConnectionError):
    """The request timed out before a response arrived."""


class OutcomeUnknownError(APIConnectionError):
    """A non-idempotent write may or may not have been applied.

    Raised for a create that may have reached the server when the client does
    not retry it (``idempotent_creates=False``), or when its retries with the
    same key ran out. ``idempotency_key`` and ``body`` (the JSON text sent, or
    None) are what to send again to finish the job without a duplicate: a new
    key does not resolve an unknown outcome. The body is contact data: it is
    never part of the message.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        idempotency_key: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.idempotency_key = idempotency_key
        self.body = body


class APIStatusError(BillabexError):
    """The server answered with an error status.

    Attributes: ``status``, ``request_id`` (from a request-id header when the
    server sends one), ``code`` (the dotted error code when present),
    ``message`` (the server's message), ``body`` (parsed JSON, or the text),
    ``headers``, ``method`` and ``path``.
    """

    def __init__(
        self,
        status: int,
        request_id: str | None,
        body: object,
        *,
        method: str = "",
        path: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.request_id = request_id
        self.body = body
        self.method = method
        self.path = path
        # Case-insensitive, like HTTP: error.headers["retry-after"] works.
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(headers or {}))
        self.code: str | None = None
        self.message: str | None = None
        if isinstance(body, Mapping):
            code, message = body.get("code"), body.get("message")
            self.code = code if isinstance(code, str) else None
            self.message = message if isinstance(message, str) else None
        elif isinstance(body, str) and body.strip():
            self.message = body.strip()[:500]
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"{self.method} {self.path}".strip(), f"-> {self.status}"]
        if self.message:
            parts.append(self.message)
        if self.code:
            parts.append(f"[{self.code}]")
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(p for p in parts if p)


class BadRequestError(APIStatusError):
    """400: the request is malformed."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, invalid or expired (after one refresh, if possible)."""


class PermissionDeniedError(APIStatusError):
    """403: missing scope (writes need ``accounts:all``) or a read-only record."""


class NotFoundError(APIStatusError):
    """404: unknown account or contact."""


class ConflictError(APIStatusError):
    """409: the write conflicts with the record's state."""


class UnprocessableEntityError(APIStatusError):
    """422: the body failed the server's validation."""


class RateLimitError(APIStatusError):
    """429: over the per-token limit. ``retry_after``: the wait the server asked for, in s."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))


class InternalServerError(APIStatusError):
    """5xx: the server failed. On a write, a 502/504 leaves the outcome unknown."""


class UnexpectedRedirectError(APIStatusError):
    """3xx: the SDK never follows redirects, so nothing was re-sent elsewhere.

    A redirect would turn a write into a GET, or send the body and token to
    another origin. ``location_host`` names where the server pointed (the
    host only); a write answered with a redirect was not applied here.
    """

    @property
    def location_host(self) -> str | None:
        location = self.headers.get("Location")
        if location is None:
            return None
        try:
            return URL(location).host
        except ValueError:
            return None

    def _describe(self) -> str:
        where = f"to host {self.location_host}" if self.location_host else "with no usable Location"
        what = f"{self.method} {self.path}".strip()
        return f"{what} -> {self.status}: redirect {where} not followed"


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def make_status_error(
    status: int,
    raw_body: bytes | str,
    *,
    headers: Mapping[str, str],
    method: str,
    path: str,
    secrets: Iterable[str] = (),
) -> APIStatusError:
    """Build the error class for ``status`` from a raw response.

    Every ``secret`` (the token sent) is redacted from the body and headers
    first: a server may echo what it was sent.
    """
    secrets = tuple(secrets)
    text = raw_body.decode("utf-8", "replace") if isinstance(raw_body, bytes) else raw_body
    text = redact(text, secrets)
    if secrets:
        headers = CIMultiDict((k, redact(v, secrets)) for k, v in headers.items())
    body: Any
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    lowered = {k.lower(): v for k, v in headers.items()}
    request_id = next((lowered[h] for h in REQUEST_ID_HEADERS if h in lowered), None)
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        if 300 <= status < 400:
            cls = UnexpectedRedirectError
        else:
            cls = InternalServerError if status >= 500 else APIStatusError
    return cls(status, request_id, body, method=method, path=path, headers=headers)
