"""Transport layer: the sliding-window rate limiter every request goes through.

Billabex counts *arrivals* per access token over a sliding 60 s window. A
request arrives at the server somewhere between the moment we send it and the
moment its response comes back, so the only count that can never overshoot
is: a slot is taken when the request is sent, stays "in flight" until its
response, and keeps counting until one window after that response. That costs
``latency / window`` of throughput (0.2 % at 100 ms and 60 s) and buys zero
429s, whatever the latency jitter.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["Limiter", "SlidingWindowLimiter", "shared_memory_limiter"]

logger = logging.getLogger("billabex_async")

# Expiries get this much extra, so a response and the server's window edge
# falling on the same instant never counts as free a slot the server still holds.
EDGE_MARGIN = 0.005


class Limiter(Protocol):
    """What the transport needs from a rate limiter (in-process or shared)."""

    async def acquire(self) -> None:
        """Wait for a free slot and take it; the slot is in flight from now."""

    def release(self) -> None:
        """The response to a slot's request arrived (or the send failed)."""

    def observe(self, *, limit: int | None, remaining: int | None, reset: float | None) -> None:
        """Correct from the server's X-RateLimit-* headers (``reset`` in unix seconds)."""

    def pause(self, seconds: float) -> None:
        """Stop every sender for ``seconds`` (the server answered 429)."""


class SlidingWindowLimiter:
    """At most ``limit`` requests in any sliding window of ``window`` seconds.

    Usage::

        limiter = SlidingWindowLimiter(300, 60.0)
        await limiter.acquire()       # waits while 300 slots are counted
        try:
            response = await send()
        finally:
            limiter.release()         # counts until now + window

    Waiters are served first come, first served. ``pause()`` holds everyone
    (a 429's Retry-After); ``observe()`` adds the requests the server counted
    but we did not (another process spending the same token).
    ``clock`` and ``sleep`` are injectable so tests run on virtual time.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_expiries",
        "_in_flight",
        "_limit",
        "_paused_until",
        "_sleep",
        "_timer",
        "_timer_at",
        "_waiters",
        "window",
    )

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self._limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        # Min-heap of clock times at which finished slots stop counting.
        self._expiries: list[float] = []
        # Slots whose request is sent and whose response has not arrived.
        self._in_flight = 0
        # No slot is granted before this clock time (429 Retry-After).
        self._paused_until = 0.0
        # Callers waiting for a slot, oldest first; each future is resolved
        # once its slot has been taken on its behalf.
        self._waiters: deque[asyncio.Future[None]] = deque()
        # The one task that sleeps until the next expiry or the pause's end.
        self._timer: asyncio.Task[None] | None = None
        self._timer_at = 0.0

    @property
    def limit(self) -> int:
        """Requests allowed per window (lowered if the server announces less)."""
        return self._limit

    def __repr__(self) -> str:
        now = self._clock()
        self._expire(now)
        paused = max(0.0, self._paused_until - now)
        return (
            f"<SlidingWindowLimiter {self._limit}/{self.window:g}s in_flight={self._in_flight} "
            f"counted={self._in_flight + len(self._expiries)} waiting={len(self._waiters)} "
            f"paused={paused:.2f}s>"
        )

    def used(self) -> int:
        """Slots counted right now: in flight plus finished within the window."""
        self._expire(self._clock())
        return self._in_flight + len(self._expiries)

    async def acquire(self) -> None:
        if not self._waiters and self._try_take(self._clock()):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Granted and cancelled in the same tick: hand the slot back.
                self._in_flight -= 1
                self._wake()
            else:
                self._waiters.remove(future)
            raise

    def release(self) -> None:
        self._in_flight -= 1
        heapq.heappush(self._expiries, self._clock() + self.window + EDGE_MARGIN)
        self._wake()

    def observe(self, *, limit: int | None, remaining: int | None, reset: float | None) -> None:
        now = self._clock()
        if limit is not None and 0 < limit < self._limit:
            logger.info("rate limit lowered to %d per window by the server", limit)
            self._limit = limit
        if remaining is None:
            return
        self._expire(now)
        # The server's count, by its own limit (ours may be set lower).
        server_used = (limit if limit is not None and limit > 0 else self._limit) - max(
            0, remaining
        )
        ours = self._in_flight + len(self._expiries)
        # Never more than a window's worth: a bogus header cannot stall us forever.
        missing = min(server_used, self._limit) - ours
        if missing <= 0:
            return
        # Someone else spends this token's budget. Count their requests until
        # the server says the window frees up; never longer than one window.
        until = now + self.window
        if reset is not None:
            until = min(until, now + max(0.0, reset - time.time()))
        logger.debug("server counts %d requests we did not send; holding them", missing)
        for _ in range(missing):
            heapq.heappush(self._expiries, until + EDGE_MARGIN)

    def pause(self, seconds: float) -> None:
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            logger.info("rate limited by the server: every sender paused %.2fs", seconds)

    def _expire(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0] <= now:
            heapq.heappop(expiries)

    def _try_take(self, now: float) -> bool:
        if now < self._paused_until:
            return False
        self._expire(now)
        if self._in_flight + len(self._expiries) >= self._limit:
            return False
        self._in_flight += 1
        return True

    def _wake(self) -> None:
        """Grant slots to waiters in order, then arm the timer for the rest."""
        now = self._clock()
        waiters = self._waiters
        while waiters:
            if waiters[0].done():  # cancelled while queued
                waiters.popleft()
                continue
            if not self._try_take(now):
                break
            waiters.popleft().set_result(None)
        if not waiters:
            return
        # Blocked: by a pause, by finished slots still in the window, or only
        # by in-flight requests (then a release will wake us, no timer needed).
        if now < self._paused_until:
            at = self._paused_until
        elif self._expiries:
            at = self._expiries[0]
        else:
            return
        if self._timer is not None and not self._timer.done() and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = asyncio.get_running_loop().create_task(self._sleep_until(at))

    async def _sleep_until(self, at: float) -> None:
        await self._sleep(max(0.0, at - self._clock()))
        self._timer = None
        self._wake()


# One limiter per (token key, limit, window) in this process, so every client
# using the same token shares the window, as the server does.
_SHARED: weakref.WeakValueDictionary[tuple[str, int, float], SlidingWindowLimiter] = (
    weakref.WeakValueDictionary()
)


def shared_memory_limiter(key: str, limit: int, window: float) -> SlidingWindowLimiter:
    """The process-wide limiter for ``key`` (a hash of the token), created on first use."""
    limiter = _SHARED.get((key, limit, window))
    if limiter is None:
        limiter = SlidingWindowLimiter(limit, window)
        _SHARED[(key, limit, window)] = limiter
    return limiter
