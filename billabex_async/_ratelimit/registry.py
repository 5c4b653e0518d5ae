"""Rate-limit layer: the process-wide registry of in-memory limiters, one per token."""

from __future__ import annotations

import threading
import weakref

from billabex_async._ratelimit.memory import SlidingWindowLimiter

__all__ = ["shared_memory_limiter"]

# One limiter per token key in this process, so every client using the same
# token shares one window, as the server does, whatever RateLimit each passed.
_SHARED: weakref.WeakValueDictionary[str, SlidingWindowLimiter] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_memory_limiter(
    key: str, limit: int, window: float, *, owner: object | None = None
) -> SlidingWindowLimiter:
    """The process-wide limiter for ``key`` (a hash of the token), created on first use.

    ``limit`` per ``window`` seconds is added to it, so the smallest limit of
    every client on the token holds; with an ``owner``, that limit is
    dropped once the owner is garbage-collected.
    """
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = SlidingWindowLimiter(limit, window)
            _SHARED[key] = limiter
            handle = 0
        else:
            handle = limiter.add_limit(limit, window)
    if owner is not None:
        weakref.finalize(owner, limiter.forget_limit, handle)
    return limiter
