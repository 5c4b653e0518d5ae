"""Simulator layer: Idempotency-Key honoured on every write, like a careful server.

A write (POST, PUT, PATCH, DELETE under an account) that carries a key is
remembered with its answer for ``window`` seconds of the simulator's clock:

- the same key again with the same method, path and body bytes: the first
  answer (same status, same body) is replayed with ``Idempotent-Replayed:
  true``, and nothing is applied again;
- the same key with another method, path or body: 409
  ``app-core.idempotency.key-reused``, nothing applied;
- a key that is not 1 to 255 printable ASCII characters: 400
  ``app-core.idempotency.invalid-key``, nothing applied.

Keys are scoped per account (the one in the path), not per token: a refreshed
or second token resuming a job finds its keys. Only 2xx answers are kept: a
refused write changed nothing, so repeating it runs it again.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from billabex_async.testing._wire import ApiError, canonical_uuid

__all__ = [
    "DEFAULT_IDEMPOTENCY_WINDOW",
    "IDEMPOTENCY_HEADER",
    "REPLAYED",
    "REPLAYED_HEADER",
    "IdempotencyStore",
    "make_idempotency",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_IDEMPOTENCY_WINDOW = 24 * 3600.0
"""Seconds a key is remembered; Billabex's own window is unpublished."""
REPLAYED = web.RequestKey("billabex_replayed", bool)
"""Set on a request answered by replay: it applied nothing (even if its answer is lost)."""
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY = re.compile(r"[!-~]{1,255}")


@attrs.frozen
class _Answer:
    """A first answer, and what it answered: method, path and the body's digest."""

    request: tuple[str, str, bytes]
    status: int
    body: bytes
    expires: float


class IdempotencyStore:
    """Answers by (account, key), for ``window`` seconds; ``window=None`` ignores keys."""

    __slots__ = ("_answers", "_clock", "window")

    def __init__(self, window: float | None, clock: Callable[[], float]) -> None:
        if window is not None and window <= 0:
            raise ValueError(f"idempotency_window must be > 0 seconds or None, got {window}")
        self.window = window
        self._clock = clock
        # Oldest first (the window is the same for all): expired ones are
        # dropped from the front, so memory follows the writes of one window.
        self._answers: OrderedDict[tuple[str, str], _Answer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def lookup(self, scope: str, key: str) -> _Answer | None:
        self._expire()
        return self._answers.get((scope, key))

    def remember(
        self, scope: str, key: str, request: tuple[str, str, bytes], status: int, body: bytes
    ) -> None:
        assert self.window is not None
        expires = self._clock() + self.window
        self._answers[(scope, key)] = _Answer(request, status, body, expires)

    def _expire(self) -> None:
        now = self._clock()
        answers = self._answers
        while answers:
            oldest = next(iter(answers.values()))
            if oldest.expires > now:
                return
            answers.popitem(last=False)


def make_idempotency(store: IdempotencyStore) -> Middleware:
    """The middleware, inside the gate: after auth, the rate limit and faults."""

    @web.middleware
    async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        account = request.match_info.get("account_id")
        # A 404 or 405 (aiohttp's, or the catch-all route's) comes before any key check.
        unrouted = (
            request.match_info.http_exception is not None or request.match_info.route.method == "*"
        )
        if (
            key is None
            or account is None
            or unrouted
            or store.window is None
            or request.method not in _WRITES
        ):
            return await handler(request)
        if not _KEY.fullmatch(key):
            raise ApiError(
                400,
                "app-core.idempotency.invalid-key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            )
        scope = canonical_uuid(account) or account
        digest = hashlib.sha256(await request.read()).digest()  # the gate read it: cached
        fingerprint = (request.method, request.path, digest)
        prior = store.lookup(scope, key)
        if prior is not None:
            if prior.request != fingerprint:
                raise ApiError(
                    409,
                    "app-core.idempotency.key-reused",
                    "This Idempotency-Key was used with another request.",
                )
            request[REPLAYED] = True
            replay = web.Response(status=prior.status, headers={REPLAYED_HEADER: "true"})
            if prior.body:
                replay.body = prior.body
                replay.content_type = "application/json"
            return replay
        # The handlers do not await: from lookup to remember nothing else
        # runs, so two concurrent sends of one key apply it once.
        response = await handler(request)
        if 200 <= response.status < 300 and isinstance(response, web.Response):
            body = response.body if isinstance(response.body, bytes) else b""
            store.remember(scope, key, fingerprint, response.status, body)
        return response

    return idempotency
