"""Rate-limit layer: one token's keys in Redis, with one typed call per Lua script."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

from billabex_async._ratelimit.redis import scripts
from billabex_async._ratelimit.redis.health import redacted, scrubbed
from billabex_async._ratelimit.window import EDGE_MARGIN
from billabex_async.errors import InvalidRequestError

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised by a test that hides redis
    raise ModuleNotFoundError(
        "RateLimit(storage='redis://...') needs redis-py: pip install 'billabex-async[redis]'",
        name="redis",
    ) from exc

__all__ = ["STORAGE_ERRORS", "TokenStore"]

# What can go wrong talking to Redis: its own errors and raw socket ones.
STORAGE_ERRORS = (RedisError, OSError)
# The rate limiter is on every request's path: fail fast rather than hang.
SOCKET_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0

_SCRIPTS = ("ACQUIRE", "RELEASE", "OBSERVE", "PAUSE", "HOLD", "STATUS")


class TokenStore:
    """The window of one token hash in Redis, shared by every process that uses it.

    ``configured`` is this process's limit per ``window`` seconds; ``lease``
    how long a slot in flight counts at most (a crashed sender's slots free
    up then). The calls raise what redis-py raises (``STORAGE_ERRORS``); the
    caller decides. A storage URL redis-py cannot read raises
    ``InvalidRequestError`` here.

    Seconds in, milliseconds on the wire: every call converts, so the limiter
    speaks seconds only. Slot ids are this instance's random prefix and a
    sequence number, unique across processes; none holds the token.
    """

    __slots__ = ("_id", "_keys", "_lease_ms", "_scripts", "_seq", "_window", "configured", "redis")

    def __init__(self, url: str, key: str, *, configured: int, window: float, lease: float) -> None:
        # Credentials stay inside redis-py; URL options (socket_timeout=...) win.
        try:
            redis = aioredis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=CONNECT_TIMEOUT,
                retry=Retry(NoBackoff(), 1),  # one immediate retry: a pooled socket gone stale
            )
        except (ValueError, TypeError) as exc:  # an option redis-py cannot read
            raise InvalidRequestError(
                f"RateLimit.storage {redacted(url)!r} is not usable: {scrubbed(exc, url)}",
                field="storage",
            ) from None
        self.redis = redis
        self.configured = configured
        self._window = window
        self._lease_ms = lease * 1000
        slots, paused, limit = scripts.keys_for(key)
        # Every key of the token: slots, paused, limit, floor, added (see scripts).
        self._keys = (slots, paused, limit, scripts.floor_key(key), scripts.added_key(key))
        self._scripts = {name: redis.register_script(getattr(scripts, name)) for name in _SCRIPTS}
        # Prefix of this instance's slot ids in the shared sorted set.
        self._id = uuid.uuid4().hex[:12]
        self._seq = 0

    def new_member(self, kind: str = "") -> str:
        """A fresh slot id (``kind``: "" for a slot, "p"/"h" for a prefix of phantom ids)."""
        self._seq += 1
        return f"{self._id}:{kind}{self._seq}" + (":" if kind else "")

    async def acquire(self, member: str) -> list[Any]:
        """Take a slot as ``member`` if one is free (the ACQUIRE reply, see scripts)."""
        reply: list[Any] = await self._scripts["ACQUIRE"](
            keys=list(self._keys),
            args=[self.configured, self._lease_ms, member, self._window * 1000],
        )
        return reply

    def give_back(self, member: str) -> Awaitable[object]:
        """Drop ``member``'s slot at once: taken, but its request was never sent."""
        # Typed here: redis-py 5 (what arq, in the fleet extra, allows) returns Any.
        dropped: Awaitable[object] = self.redis.zrem(self._keys[0], member)
        return dropped

    def release(self, member: str) -> Awaitable[object]:
        """``member``'s answer arrived: its slot counts one window from now."""
        window_ms = (self._window + EDGE_MARGIN) * 1000
        released: Awaitable[object] = self._scripts["RELEASE"](
            keys=self._keys[:1], args=[member, window_ms]
        )
        return released

    async def observe(
        self,
        *,
        limit: int | None,
        remaining: int | None,
        reset: float | None,
        sent: tuple[int, int] | None,
    ) -> int:
        """Apply an answer's headers (``sent``: its ticket's count and added); phantoms added."""
        slots, _, limit_key, floor, added = self._keys
        reply = await self._scripts["OBSERVE"](
            keys=[slots, limit_key, floor, added],
            args=[
                self.configured,
                "" if limit is None else limit,
                "" if remaining is None else remaining,
                "" if reset is None else reset * 1000,
                self._window * 1000,
                self.new_member("p"),
                EDGE_MARGIN * 1000,
                (self._window + EDGE_MARGIN) * 1000,
                *(sent or ("", "")),
            ],
        )
        return int(reply[1])

    def pause(self, seconds: float) -> Awaitable[object]:
        """Extend the shared pause to ``seconds`` from now (never shortens it)."""
        paused: Awaitable[object] = self._scripts["PAUSE"](
            keys=self._keys[1:2], args=[seconds * 1000]
        )
        return paused

    async def hold(self, *, finished: int, in_flight: int) -> None:
        """Count slots Redis never saw: ``finished`` for a window, ``in_flight`` for a lease."""
        await self._scripts["HOLD"](
            keys=[self._keys[0], self._keys[4]],
            args=[
                finished,
                (self._window + EDGE_MARGIN) * 1000,
                in_flight,
                self._lease_ms,
                self.new_member("h"),
            ],
        )

    async def used(self) -> int:
        """Slots counted now, by every process."""
        reply = await self._scripts["STATUS"](keys=list(self._keys[:4]), args=[self.configured])
        return int(reply[0])
