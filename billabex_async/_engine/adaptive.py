"""Engine layer: how many writes to keep in flight, from the rate limit and the latency seen.

Little's law: in flight = rate x latency. A sliding window hands its slots
back in the pattern they were taken, so the rate to aim for is a whole
window's allowance within ``SHARE`` of the window: ``limit / (SHARE * window)``.
Fewer in flight and the limit is not reached at high latency (8 at 200 ms
under 100 / 2 s use 57 % of it); more and the extra requests only wait for
slots. Never more than the limit lets through per window, nor ``MAX``.

An account's first write goes alone (``_conflicts``: a refused token costs
one request, not a window's worth), so a run starts one latency late: at
200 ms under 100 / 2 s and 400 writes, 0.882 of the limit at best instead
of 0.909; the sliding window then repeats that shape, it does not add up.
"""

from __future__ import annotations

import inspect
import math
from time import monotonic
from typing import Any

__all__ = ["MAX", "SHARE", "Adaptive"]

SHARE = 0.1
"""Share of the window a window's allowance should take to send."""

MAX = 100
"""Most writes in flight the adaptive default picks (aiohttp's default pool size)."""

SMOOTHING = 0.2
"""Weight of each new latency sample in the moving average."""


class Adaptive:
    """The number of workers for a limiter's ``limit`` / ``window`` and the latency seen.

    ``started()`` before each request says whether a slot was free (so its
    duration is the wire's latency, not a wait for a slot); ``finished()``
    records the duration. Until a sample arrives, ``target`` is ``start``.
    """

    __slots__ = ("_clock", "_latency", "_limiter", "_used", "start", "target")

    def __init__(self, limiter: Any, *, start: int, clock: Any = None) -> None:
        self._limiter = limiter
        self._clock = monotonic if clock is None else clock
        used = getattr(limiter, "used", None)
        # A shared limiter's count is a Redis round trip (async): not worth one
        # per request, so whether a slot was free stays unknown there.
        sync_count = callable(used) and not inspect.iscoroutinefunction(used)
        self._used = used if sync_count else None
        self._latency: float | None = None  # seconds, moving average
        self.start = start
        self.target = start

    def __repr__(self) -> str:
        latency = "?" if self._latency is None else f"{self._latency * 1000:.0f}ms"
        return f"<Adaptive target={self.target} latency={latency}>"

    def now(self) -> float:
        return float(self._clock())

    def slot_free(self) -> bool:
        """Whether a request sent now would get a slot at once (unknown: False)."""
        if self._used is None:
            return False
        return bool(self._used() < self._limiter.limit)

    def finished(self, seconds: float, *, clean: bool) -> None:
        """A request took ``seconds``; ``clean``: it did not wait for a slot."""
        seconds = max(0.0, seconds)
        if self._latency is None:
            self._latency = seconds
        elif clean:
            self._latency += SMOOTHING * (seconds - self._latency)
        else:
            # Waited for a slot: only an upper bound of the wire's latency.
            self._latency = min(self._latency, seconds)
        self.target = self._size(self._latency)

    def _size(self, latency: float) -> int:
        limit, window = int(self._limiter.limit), float(self._limiter.window)
        wanted = math.ceil(limit * latency / (SHARE * window))
        return max(1, min(wanted, limit, MAX))


def workers(contacts: object, concurrency: int | None, *, fixed: int) -> int | Adaptive:
    """What the engine runs with: ``concurrency`` if given, else adaptive to the client's limiter.

    Without a limiter (``rate_limit=None``, or a resource double) there is no
    rate to follow: ``fixed``.
    """
    if concurrency is not None:
        return concurrency
    limiter = getattr(contacts, "limiter", None)  # None when disabled, or on a double
    if limiter is None or not hasattr(limiter, "limit") or not hasattr(limiter, "window"):
        return fixed
    return Adaptive(limiter, start=fixed)
