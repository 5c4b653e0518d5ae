"""Fleet layer: what a worker process opens at startup and closes at shutdown.

One Redis connection pool (progress, events, the token store), one client
pool whose clients share a connector, one ``RedisLimiter`` per tenant (its
window shared by every worker of the fleet, keyed by the tenant, so it
survives token rotation), and one aiohttp session for downloading sources.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

import aiohttp
import attrs
import redis.asyncio as aioredis

from billabex_async._http import TokenProvider
from billabex_async._ratelimit.redis.limiter import LEASE_MARGIN, RedisLimiter
from billabex_async._types import RateLimit
from billabex_async.fleet._sources import DEFAULT_MAX_DOWNLOAD_BYTES, Source
from billabex_async.fleet._standin import ClientPool

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
    credentials: Credentials
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
        self._limiters: dict[str, RedisLimiter] = {}
        timeout = float(config.client_options.get("timeout", DEFAULT_TIMEOUT))
        self._timeout = timeout
        self.pool = ClientPool(
            config.credentials,
            limiter=self.limiter,
            idle_timeout=config.idle_timeout,
            max_connections=config.max_connections,
            **config.client_options,
        )
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600.0))

    def limiter(self, tenant: str) -> RedisLimiter:
        """The tenant's shared window (one per tenant in this process)."""
        limiter = self._limiters.get(tenant)
        if limiter is None:
            rule = self.config.rate_limit(tenant)
            limiter = self._limiters[tenant] = RedisLimiter(
                self.config.redis_url,
                rule.requests,
                rule.window,
                key=tenant_limiter_key(tenant),
                # A slot of a killed worker frees after this: as BillabexClient computes it.
                lease=rule.window + self._timeout + LEASE_MARGIN,
                on_error=rule.on_storage_error,
            )
        return limiter

    async def start(self) -> None:
        await self.redis.ping()
        await self.pool.__aenter__()

    async def close(self) -> None:
        """Close everything opened, each even if another fails."""
        try:
            await self.pool.__aexit__(None, None, None)
        finally:
            try:
                for limiter in self._limiters.values():
                    await limiter.aclose()
            finally:
                await self.session.close()
                await self.redis.aclose()
