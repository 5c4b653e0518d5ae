"""Simulator layer: the shared state behind the HTTP app and FakeBillabex's helpers."""

from __future__ import annotations

import random
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping

import attrs

from billabex_async.testing._faults import FaultInjector
from billabex_async.testing._idempotency import IdempotencyStore
from billabex_async.testing._ratelimit import RateLimiter, Stats
from billabex_async.testing._stale import StaleReads
from billabex_async.testing._store import Store

__all__ = ["READ_SCOPES", "WRITE_SCOPE", "Core", "RequestRecord", "Token"]

WRITE_SCOPE = "accounts:all"
READ_SCOPES = frozenset({"accounts:read", WRITE_SCOPE})


@attrs.frozen(kw_only=True)
class RequestRecord:
    """One request as the simulator saw it. The token is never stored."""

    time: float
    """Arrival on the simulator's clock."""
    method: str
    """The HTTP method."""
    path: str
    """The path, from ``/api/public/v1`` on."""
    query: Mapping[str, str]
    """The query parameters."""
    body: object
    """The parsed JSON body, or None when absent or not JSON."""
    status: int | None
    """The status sent, or None when the connection was dropped instead."""
    request_id: str
    """The request id the simulator answered with."""
    fault: str | None = None
    """The injected fault kind, if any."""
    idempotency_key: str | None = None
    """The Idempotency-Key header sent, if any."""
    replayed: bool = False
    """Answered by replaying the key's first answer: nothing was applied (even when
    a fault then dropped the answer)."""


@attrs.frozen
class Token:
    """What the simulator knows about a bearer token; ``label`` keys its window."""

    label: str
    scopes: frozenset[str]
    expires_at: float | None = None
    """Clock time after which it answers 401; None: never expires."""


@attrs.define(kw_only=True, eq=False)
class Core:
    """Everything the request handlers read and change; one per simulator."""

    store: Store
    limiter: RateLimiter
    injector: FaultInjector
    stats: Stats
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    """Waits on ``clock``: injected latency and delay faults."""
    epoch: float
    """Unix time minus clock time: turns window resets into X-RateLimit-Reset."""
    rng: random.Random
    latency: float
    jitter: float
    max_page_size: int
    default_page_size: int
    log: deque[RequestRecord]
    idempotency: IdempotencyStore
    tokens: dict[str, Token] = attrs.field(factory=dict)
    request_count: int = 0
    token_count: int = 0
    reads: StaleReads = attrs.field(factory=StaleReads)
    """How far list pages lag behind writes (none by default)."""

    def issue_token(
        self, scopes: Iterable[str], *, lifetime: float | None = None, value: str | None = None
    ) -> str:
        """A new token (``value``, else a random one) with its own rate-limit window."""
        token = value or "bbx_fake_" + secrets.token_urlsafe(24)
        self.token_count += 1
        expires = None if lifetime is None else self.clock() + lifetime
        self.tokens[token] = Token(f"token-{self.token_count}", frozenset(scopes), expires)
        return token

    def next_request_id(self) -> str:
        self.request_count += 1
        return f"req_{self.request_count:08x}"
