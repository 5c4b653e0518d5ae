"""Transport layer: RedisTokenStore, credentials every process of a fleet shares (extra [redis])."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from billabex_async.auth._store import Credentials
from billabex_async.errors import AuthRefreshError, InvalidRequestError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_LOCK_TIMEOUT", "DEFAULT_LOCK_WAIT", "RedisTokenStore"]

logger = logging.getLogger("billabex_async")

# The lock's lease: longer than a refresh can take (the token endpoint gets
# 30 s), so it lapses only when its holder died or hung.
DEFAULT_LOCK_TIMEOUT = 45.0
DEFAULT_LOCK_WAIT = 60.0  # seconds a process waits for another's refresh


class RedisTokenStore:
    """Credentials in one Redis key, with a refresh lock that every process honours.

    ::

        redis = redis.asyncio.Redis.from_url("redis://localhost:6379/0")
        store = RedisTokenStore(redis, key="billabex:tokens:tenant-a")
        await store.save(credentials)          # once, after the tenant's login
        provider = await OAuthTokenProvider.from_async_store(store)

    The credentials are a JSON string at ``key``; the refresh lock is
    redis-py's ``Lock`` at ``key + ":refresh-lock"`` (``SET NX PX`` with a
    random token, released only by its holder), leased for ``lock_timeout``
    seconds so a process that dies holding it blocks the others for that long
    at most. A process waits up to ``lock_wait`` seconds for it, then raises
    ``AuthRefreshError``. The Redis client is the caller's, never closed here.
    Anyone who can read the key can use the tokens: keep Redis private.
    Redis failures raise ``AuthRefreshError`` (with the cause chained).
    """

    __slots__ = ("_redis", "key", "lock_timeout", "lock_wait")

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        lock_wait: float = DEFAULT_LOCK_WAIT,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise InvalidRequestError("key must be a non-empty string", field="key")
        if not lock_timeout > 0 or not lock_wait > 0:
            raise InvalidRequestError(
                "lock_timeout and lock_wait must be > 0", field="lock_timeout"
            )
        self._redis = redis
        self.key = key
        self.lock_timeout = float(lock_timeout)
        self.lock_wait = float(lock_wait)

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self.key!r})"

    async def load(self) -> Credentials | None:
        """The stored credentials, or None; ``AuthRefreshError`` when unreadable."""
        async with self._failures("read"):
            raw = await self._redis.get(self.key)
        if raw is None:
            return None
        return Credentials.from_text(
            raw, refused=f"{self!r} holds no credentials (not a JSON object)"
        )

    async def save(self, credentials: Credentials) -> None:
        """Replace the stored credentials."""
        text = json.dumps(credentials.to_json())
        async with self._failures("write"):
            await self._redis.set(self.key, text)

    async def clear(self) -> None:
        """Remove the stored credentials (and nothing else)."""
        async with self._failures("clear"):
            await self._redis.delete(self.key)

    def refresh_lock(self) -> AbstractAsyncContextManager[None]:
        """Held across one refresh, by one process at a time (a lease of ``lock_timeout``)."""
        return self._locked()

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        from redis.exceptions import LockError

        lock = self._redis.lock(
            f"{self.key}:refresh-lock",
            timeout=self.lock_timeout,
            blocking_timeout=self.lock_wait,
            thread_local=False,  # released by the task that took it, in any thread
        )
        async with self._failures("lock"):
            acquired = await lock.acquire()
        if not acquired:
            raise AuthRefreshError(
                f"{self!r}: another process held the refresh lock for {self.lock_wait:.0f}s"
            )
        try:
            yield
        finally:
            try:
                await lock.release()
            except LockError:
                # The lease ran out first: another process may have refreshed
                # too, and one of us then re-read the store after invalid_grant.
                logger.warning(
                    "%r: the refresh outlasted the lock's %.0fs lease", self, self.lock_timeout
                )
            except Exception as exc:  # noqa: BLE001 - the lease expires by itself
                logger.warning(
                    "%r: releasing the refresh lock failed: %s", self, type(exc).__name__
                )

    @contextlib.asynccontextmanager
    async def _failures(self, what: str) -> AsyncIterator[None]:
        from redis.exceptions import RedisError

        try:
            yield
        except RedisError as exc:
            raise AuthRefreshError(
                f"{self!r}: could not {what} the token store ({type(exc).__name__}: {exc})"
            ) from exc
