"""Rate-limit layer: the Limiter protocol, in memory or through Redis, built from RateLimit."""

from __future__ import annotations

from billabex_async._ratelimit.memory import SlidingWindowLimiter
from billabex_async._ratelimit.protocol import Limiter, Ticket
from billabex_async._ratelimit.registry import shared_memory_limiter
from billabex_async._types import SYSTEM_CLOCK, Clock, RateLimit

__all__ = ["Limiter", "SlidingWindowLimiter", "Ticket", "build_limiter", "shared_memory_limiter"]


def build_limiter(
    rate_limit: RateLimit | None,
    *,
    key: str,
    request_timeout: float,
    owner: object | None = None,
    clock: Clock | None = None,
) -> Limiter | None:
    """The limiter a client on the token hashed as ``key`` goes through; None when disabled.

    In memory, one window per token in the process, whatever RateLimit each
    client passed: this one's limit holds alongside the others' until
    ``owner`` is collected; a client on its own ``clock`` has a window of its
    own on that clock. Any other storage is a Redis URL (RateLimit checked
    it), loaded only then so the redis extra stays optional.
    """
    if rate_limit is None:
        return None
    if rate_limit.storage == "memory":
        if clock is not None:
            return SlidingWindowLimiter(
                rate_limit.requests, rate_limit.window, clock=clock.time, sleep=clock.sleep
            )
        return shared_memory_limiter(key, rate_limit.requests, rate_limit.window, owner=owner)
    from billabex_async._ratelimit.redis.limiter import LEASE_MARGIN, RedisLimiter

    # The shared window runs on Redis TIME; the clock times pauses and the fallback.
    clock = clock or SYSTEM_CLOCK
    return RedisLimiter(
        rate_limit.storage,
        rate_limit.requests,
        rate_limit.window,
        key=key,
        lease=rate_limit.window + request_timeout + LEASE_MARGIN,
        on_error=rate_limit.on_storage_error,
        clock=clock.time,
        sleep=clock.sleep,
    )
