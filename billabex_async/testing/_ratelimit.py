"""Simulator layer: the server's per-token sliding window of arrivals, and its stats."""

from __future__ import annotations

import math
from collections import deque

import attrs

from billabex_async._types import RateLimit

__all__ = ["RateLimiter", "Stats", "Verdict"]


@attrs.define(kw_only=True)
class Stats:
    """What the simulator saw, for assertions and charts.

    ``requests`` counts every HTTP request (``/status`` and 401s included);
    ``arrivals`` holds the clock time of each request counted against a
    token's window (429s included: they burn budget); ``max_in_window`` is the
    most arrivals any one token had in a sliding window, foreign ones included.
    """

    requests: int = 0
    """Every HTTP request received."""
    rate_limited: int = 0
    """Requests answered 429."""
    max_in_window: int = 0
    """The most arrivals one token had in a window."""
    foreign: int = 0
    """Synthetic arrivals injected by the foreign consumer (``foreign_share``)."""
    arrivals: deque[float] = attrs.field(factory=deque)
    """Clock times of the arrivals counted against a window."""
    rejected: deque[float] = attrs.field(factory=deque)
    """Clock times of the 429s."""


@attrs.frozen
class Verdict:
    """The limiter's answer to one arrival; ``reset`` is on the simulator's clock."""

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: int


class _Window:
    __slots__ = ("arrivals", "foreign_sent", "foreign_t0")

    def __init__(self, now: float) -> None:
        # Arrival times still inside the window, oldest first.
        self.arrivals: deque[float] = deque()
        # The foreign consumer starts with the token's first request; its k-th
        # arrival is at foreign_t0 + k / rate, so it can be replayed lazily.
        self.foreign_t0 = now
        self.foreign_sent = 0


class RateLimiter:
    """A sliding-window log per token: a request counts when it arrives.

    Rejected requests count too (the API guide: a 429 "burns budget"), so a
    client that keeps hammering stays locked out. With ``limit=None`` nothing
    is refused but windows are still kept (60 s) so ``max_in_window`` works.

    >>> rl = RateLimiter(RateLimit(2, 1.0), stats=Stats())
    >>> [rl.arrive("t", now=0.0).allowed for _ in range(3)]
    [True, True, False]
    """

    __slots__ = ("_enforce", "_foreign_rate", "_limit", "_stats", "_window", "_windows")

    def __init__(
        self,
        limit: RateLimit | None,
        *,
        stats: Stats,
        foreign_share: float = 0.0,
    ) -> None:
        if not 0.0 <= foreign_share < 1.0:
            raise ValueError(f"foreign_share must be in [0, 1), got {foreign_share}")
        rule = limit or RateLimit()
        self._enforce = limit is not None
        self._limit = rule.requests
        self._window = rule.window
        self._stats = stats
        # Synthetic arrivals per second from a second process sharing the token.
        self._foreign_rate = foreign_share * rule.requests / rule.window
        self._windows: dict[str, _Window] = {}

    def __repr__(self) -> str:
        busiest = max((len(w.arrivals) for w in self._windows.values()), default=0)
        return (
            f"<RateLimiter {self._limit}/{self._window}s enforce={self._enforce} "
            f"tokens={len(self._windows)} busiest={busiest}>"
        )

    @property
    def enforced(self) -> bool:
        return self._enforce

    @property
    def limit(self) -> int:
        return self._limit

    def arrive(self, key: str, now: float) -> Verdict:
        """Count one arrival for token ``key`` at clock time ``now``; is it admitted?"""
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(now)
        if self._foreign_rate:
            self._replay_foreign(window, now)
        self._push(window, now)
        self._stats.arrivals.append(now)
        arrivals = window.arrivals
        count = len(arrivals)
        allowed = not self._enforce or count <= self._limit
        # Admission needs fewer than `limit` arrivals in the window, so the
        # entry at index count - limit must expire first; for an admitted
        # request this is simply the oldest entry.
        reset = arrivals[max(0, count - self._limit)] + self._window
        retry_after = max(1, math.ceil(reset - now))
        if not allowed:
            self._stats.rate_limited += 1
            self._stats.rejected.append(now)
        return Verdict(allowed, self._limit, max(0, self._limit - count), reset, retry_after)

    def _push(self, window: _Window, t: float) -> None:
        arrivals = window.arrivals
        horizon = t - self._window
        while arrivals and arrivals[0] <= horizon:
            arrivals.popleft()
        arrivals.append(t)
        if len(arrivals) > self._stats.max_in_window:
            self._stats.max_in_window = len(arrivals)

    def _replay_foreign(self, window: _Window, now: float) -> None:
        rate = self._foreign_rate
        due = math.floor((now - window.foreign_t0) * rate)
        # Every due arrival is replayed, even long-expired ones, so that
        # max_in_window stays exact; an idle hour at 1/s costs 3,600 appends.
        for k in range(window.foreign_sent + 1, due + 1):
            self._push(window, window.foreign_t0 + k / rate)
            self._stats.foreign += 1
        window.foreign_sent = max(window.foreign_sent, due)
