"""Rate-limit layer: the slot counts behind the rate limiter (no asyncio, no locking)."""

from __future__ import annotations

import bisect
import heapq
import logging
from collections import deque

from billabex_async._ratelimit.gaps import FirstWindowGaps
from billabex_async._ratelimit.protocol import Ticket
from billabex_async._ratelimit.reserve import ForeignReserve
from billabex_async._types import check_rate

__all__ = ["EDGE_MARGIN", "Window"]

logger = logging.getLogger("billabex_async")

# Expiries get this much extra, so a response and the server's window edge
# falling on the same instant never counts as free a slot the server still holds.
EDGE_MARGIN = 0.005


class Window:
    """The slots one token has spent, checked against every limit set on it.

    Billabex counts *arrivals* per access token over a sliding window. A request
    arrives somewhere between the moment we send it and the moment its response
    comes back, so the only count that can never overshoot is: a slot is taken
    when the request is sent, stays "in flight" until its response, and keeps
    counting until one window after that response. That costs ``latency /
    window`` of throughput (0.2 % at 100 ms and 60 s) and buys zero 429s,
    whatever the latency jitter.

    Each ``(limit, window)`` pair added holds at once, over the same slots:
    clients on one token that ask for different limits all get the strictest
    (the smallest limit of a window length wins). A limit the server
    announces caps every pair until one (longest) window after the last
    response that announced it (the lowest one announced within a window
    wins), then the configured limits return; it never raises a pair above
    its configured limit.

    Not thread-safe: ``SlidingWindowLimiter`` calls it under its lock. Every
    ``now`` is the limiter's clock, in seconds.
    """

    __slots__ = (
        "_added",
        "_finished",
        "_gaps",
        "_in_flight",
        "_limits",
        "_longest",
        "_next_handle",
        "_paused_until",
        "_phantoms",
        "_reserve",
        "_server_limit",
        "_server_until",
        "_shortest",
        "phantoms_added",
    )

    def __init__(self, limit: int, window: float) -> None:
        # handle -> (limit, window seconds); the limiter removes a client's
        # pair when that client is gone.
        self._limits: dict[int, tuple[int, float]] = {}
        self._next_handle = 0
        self._longest = self._shortest = window
        # Slots whose request is sent and whose response has not arrived.
        self._in_flight = 0
        # Clock times of finished slots' responses, oldest first (the clock
        # only moves forward, so appending keeps it sorted). A slot counts in
        # a window of W seconds until W after its response.
        self._finished: deque[float] = deque()
        # Min-heap of the times at which slots someone else spent (seen in
        # the server's headers) stop counting, in every window.
        self._phantoms: list[float] = []
        # Slots ever added to the count (taken or phantom): a ticket plus this
        # is the count as it stood at the ticket's send, plus every slot
        # added since (see ``observe``).
        self._added = 0
        self.phantoms_added = 0  # slots ever counted as someone else's
        # Slots kept free for someone else's requests not yet seen.
        self._reserve = ForeignReserve()
        # Someone else's requests in the first window, from the counts alone.
        self._gaps = FirstWindowGaps()
        # No slot is granted before this clock time (a 429's Retry-After).
        self._paused_until = 0.0
        # The server's announced limit, in force until _server_until.
        self._server_limit: int | None = None
        self._server_until = 0.0
        self.add_limit(limit, window)

    def add_limit(self, limit: int, window: float) -> int:
        """Also hold ``limit`` slots per ``window`` seconds; returns a handle to remove it.

        Every limit of every limiter enters here, so the bounds are checked
        here (``InvalidRequestError`` as for a ``RateLimit``).
        """
        check_rate(limit, window)
        handle = self._next_handle
        self._next_handle += 1
        self._limits[handle] = (limit, window)
        self._spans()
        return handle

    def remove_limit(self, handle: int) -> None:
        """Drop a pair added by ``add_limit``; the last pair always stays."""
        if len(self._limits) > 1:
            self._limits.pop(handle, None)
            self._spans()

    def _spans(self) -> None:
        windows = [window for _, window in self._limits.values()]
        self._longest, self._shortest = max(windows), min(windows)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def limits(self, now: float) -> list[tuple[int, float]]:
        """The (limit, window) pairs in force at ``now``, the server's cap applied."""
        cap = self._cap(now)
        return [
            (limit if cap is None or cap >= limit else cap, window)
            for limit, window in self._limits.values()
        ]

    def primary(self, now: float) -> tuple[int, float]:
        """The pair with the fewest slots (the longer window on a tie): what a repr shows."""
        return min(self.limits(now), key=lambda pair: (pair[0], -pair[1]))

    def counted(self, now: float, window: float) -> int:
        """Slots counted in a window of ``window`` seconds ending at ``now``."""
        self._expire(now)
        finished = self._finished
        if window >= self._longest:
            recent = len(finished)
        else:
            recent = len(finished) - self._first_counting(now, window)
        return self._in_flight + recent + len(self._phantoms)

    def reserved(self, now: float) -> int:
        """Slots kept free for someone else's requests not seen yet (0 alone on the token)."""
        self._expire(now)
        return self._reserve.unseen(now, len(self._phantoms))

    @property
    def added(self) -> int:
        """Slots ever added to the count (taken or phantom), for a ``Ticket``."""
        return self._added

    def try_take(self, now: float) -> int | None:
        """Take a slot (in flight from now) if every limit allows one; None if not.

        Returns the count in the shortest window, this slot included: a
        ``Ticket``'s ``count``, read with ``added`` right after.
        """
        if now < self._paused_until:
            return None
        cap = self._cap(now)
        self._expire(now)
        # counted(), inlined: this runs on every request.
        held = len(self._phantoms)
        base = self._in_flight + held
        unseen = self._reserve.unseen(now, held)
        finished = self._finished
        shortest = self._shortest
        ours = 0
        for limit, window in self._limits.values():
            if cap is not None and cap < limit:
                limit = cap
            if window >= self._longest:
                recent = len(finished)
            else:
                recent = len(finished) - self._first_counting(now, window)
            if base + recent + unseen >= limit:
                return None
            if window == shortest:
                ours = base + recent
        self._in_flight += 1
        self._added += 1
        if self._gaps.live:
            self._gaps.taken(now, shortest, self._added)
        return ours + 1

    def finish(self, now: float) -> None:
        """A slot's response arrived (or its send failed): it counts one window more."""
        self._in_flight = max(0, self._in_flight - 1)
        self._finished.append(now)

    def cancel(self) -> None:
        """A slot was granted but its request never sent: it stops counting at once."""
        self._in_flight = max(0, self._in_flight - 1)

    def pause(self, now: float, seconds: float) -> bool:
        """Grant nothing for ``seconds``; False if a longer pause already holds."""
        until = now + max(0.0, seconds)
        if until <= self._paused_until:
            return False
        self._paused_until = until
        return True

    def next_change(self, now: float) -> float | None:
        """When a slot may free up, if time alone can free one (None: only a release can)."""
        if now < self._paused_until:
            return self._paused_until
        cap = self._cap(now)
        self._expire(now)
        unseen = self._reserve.unseen(now, len(self._phantoms))
        lapses = self._reserve.lapses()
        at: float | None = None
        for (limit, window), (configured, _) in zip(
            self.limits(now), self._limits.values(), strict=True
        ):
            if self.counted(now, window) + unseen < limit:
                continue
            candidates = [self._phantoms[0]] if self._phantoms else []
            if lapses is not None:
                candidates.append(lapses)
            first = self._first_counting(now, window)
            if first < len(self._finished):
                candidates.append(self._finished[first] + window + EDGE_MARGIN)
            if cap is not None and cap < configured:
                candidates.append(self._server_until)  # the server's lower limit lapses
            for candidate in candidates:
                at = candidate if at is None else min(at, candidate)
        return at

    def observe(
        self,
        now: float,
        *,
        limit: int | None,
        remaining: int | None,
        reset_in: float | None,
        sent: Ticket | None = None,
    ) -> None:
        """Correct from the server's X-RateLimit-* headers (``reset_in``: seconds from now).

        ``sent`` is the ticket of the request these headers answer (see
        ``Limiter.observe``); without it, the count is compared as of now.
        """
        if limit is not None and limit > 0:
            cap = self._cap(now)
            if cap is None or limit <= cap:
                if cap != limit and limit < max(lim for lim, _ in self._limits.values()):
                    logger.info("the server announces %d requests per window: applied", limit)
                # The lowest limit announced within the last window holds; a
                # higher one lets it lapse one window after its last mention.
                self._server_limit = limit
                self._server_until = now + self._longest + EDGE_MARGIN
        if remaining is None:
            return
        # The server's count, by its own limit (ours may be set lower).
        scale = limit if limit is not None and limit > 0 else self.primary(now)[0]
        server_used = scale - max(0, remaining)
        # The server counted when the request arrived, somewhere between its
        # send and now. Ours as of now would leave out our slots that expired
        # during the flight (the server may still have counted them) and
        # take them for someone else's: a slot held that the server freed.
        # So compare with the most the server can have counted of ours: the
        # count at the send plus every slot added since. Ours in the shortest
        # window: if the server's window is longer, it counts more of ours
        # than that, and we hold a few phantoms too many.
        if sent is None:
            ours = self.counted(now, self._shortest)
        else:
            ours = sent.count + self._added - sent.added
        # Never more than a window's worth: a bogus header cannot stall us forever.
        most = max(lim for lim, _ in self.limits(now))
        # Counts alone can prove more, early on, than one answer can.
        proven = self._gaps.answered(
            now,
            None if sent is None else sent.added,
            server_used if remaining > 0 else None,
            self._added,
        )
        missing = max(min(server_used, most) - ours, proven - self.phantoms_added)
        if missing <= 0:
            self._answered(now, 0)
            return
        # Someone else spends this token's budget. Reset is when the oldest
        # request the server counts frees; the others free later, within a
        # window from now, and which are someone else's it does not say. So
        # one is counted until Reset, the rest for a window: a consumer seen
        # only through these headers keeps sending meanwhile, and releasing
        # them all at Reset let ours overshoot into 429s.
        until = now + self._longest
        first = until if reset_in is None else min(until, now + max(0.0, reset_in))
        logger.debug("server counts %d requests we did not send; holding them", missing)
        self._added += missing
        self.phantoms_added += missing
        phantoms = self._phantoms
        heapq.heappush(phantoms, first + EDGE_MARGIN)
        for _ in range(missing - 1):
            heapq.heappush(phantoms, until + EDGE_MARGIN)
        self._answered(now, missing)

    def _answered(self, now: float, added: int) -> None:
        self._expire(now)
        held = len(self._phantoms)
        self._reserve.answered(now, self._longest + EDGE_MARGIN, added=added, held=held)

    def _cap(self, now: float) -> int | None:
        if self._server_limit is not None and now >= self._server_until:
            self._server_limit = None  # the server stopped saying so: back to ours
        return self._server_limit

    def _first_counting(self, now: float, window: float) -> int:
        """Index of the oldest finished slot still counting in ``window`` at ``now``."""
        # The expiry is computed as everywhere else (finish + window + margin),
        # so waking at it always finds the slot expired, float rounding included.
        return bisect.bisect_right(self._finished, now, key=lambda f: f + window + EDGE_MARGIN)

    def _expire(self, now: float) -> None:
        longest = self._longest
        finished = self._finished
        while finished and finished[0] + longest + EDGE_MARGIN <= now:
            finished.popleft()
        phantoms = self._phantoms
        while phantoms and phantoms[0] <= now:
            heapq.heappop(phantoms)
