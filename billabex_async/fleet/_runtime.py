"""Fleet layer: what a worker process opens at startup and closes at shutdown.

One Redis connection pool (progress, events, the token store), one
``ClientPool`` whose clients share a connector, a ``RedisLimiter`` for each
tenant's open client (its window shared by every worker of the fleet and
keyed by the tenant, so it survives token rotation), and one aiohttp session
for downloading sources. Without ``credentials``, a tenant's OAuth
credentials are read from a ``RedisTokenStore`` at ``token_key(prefix, tenant)``,
refreshed once for the whole fleet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import aiohttp
import attrs
import redis.asyncio as aioredis

from billabex_async import ClientPool
from billabex_async._http import TokenProvider
from billabex_async._ratelimit.redis.limiter import LEASE_MARGIN, RedisLimiter
from billabex_async._types import RateLimit
from billabex_async.auth import OAuthTokenProvider, RedisTokenStore
from billabex_async.fleet._keys import token_key
from billabex_async.fleet._sources import DEFAULT_MAX_DOWNLOAD_BYTES, Source

__all__ = ["Credentials", "FleetConfig", "Runtime", "tenant_limiter_key"]

Credentials: TypeAlias = Callable[[str], Awaitable[str | TokenProvider]]
"""``tenant`` -> its access token, or a TokenProvider that refreshes it."""
DEFAULT_TIMEOUT = 30.0  # seconds per attempt, as BillabexClient's


def tenant_limiter_key(tenant: str) -> str:
    """The Redis limiter's key for ``tenant``: a hash, so no tenant name sits in Redis keys."""
    return hashlib.sha256(f"fleet-tenant:{tenant}".encode()).hexdigest()


@attrs.frozen(kw_only=True)
class FleetConfig:
    """The worker's settings, as ``worker_settings`` checked them."""

    redis_url: str
    credentials: Credentials | None
    rate_limit: Callable[[str], RateLimit]
    sources: Mapping[str, Source]
    prefix: str
    keep_result: float
    max_connections: int
    idle_timeout: float
    client_options: Mapping[str, Any]
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES


class Runtime:
    """The shared state of one worker process; ``ctx["billabex_fleet"]`` in a job."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.redis: aioredis.Redis = aioredis.Redis.from_url(config.redis_url)
        self._timeout = float(config.client_options.get("timeout", DEFAULT_TIMEOUT))
        self.pool = ClientPool(
            config.credentials or self.stored_credentials,
            limiter=self.limiter,
            idle_timeout=config.idle_timeout,
            max_connections=config.max_connections,
            **config.client_options,
        )
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600.0))

    def limiter(self, tenant: str) -> RedisLimiter:
        """A new limiter on the tenant's shared window (the pool closes it with the client)."""
        rule = self.config.rate_limit(tenant)
        return RedisLimiter(
            self.config.redis_url,
            rule.requests,
            rule.window,
            key=tenant_limiter_key(tenant),
            # A slot of a killed worker frees after this, as BillabexClient computes it.
            lease=rule.window + self._timeout + LEASE_MARGIN,
            on_error=rule.on_storage_error,
        )

    async def stored_credentials(self, tenant: str) -> TokenProvider:
        """The tenant's OAuth credentials from the fleet's token store."""
        store = RedisTokenStore(self.redis, key=token_key(self.config.prefix, tenant))
        return await OAuthTokenProvider.from_async_store(store)

    async def start(self) -> None:
        """Fail at startup, not on the first job, when Redis does not answer."""
        await self.redis.ping()

    async def close(self) -> None:
        """Close everything opened, each even if another fails."""
        try:
            await self.pool.aclose()
        finally:
            try:
                await self.session.close()
            finally:
                await self.redis.aclose()
