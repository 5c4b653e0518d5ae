"""Rate-limit layer: someone else's requests in the first window, proven by the counts."""

from __future__ import annotations

__all__ = ["FirstWindowGaps"]


class FirstWindowGaps:
    """A lower bound on the requests someone else sent since this token's first slot was taken.

    An answer is compared with the most the server can have counted of ours
    (``Ticket``), which includes every request sent during its flight: with
    8 in flight, up to 7 requests of someone else's go unseen, and a burst
    that fills the first window overshoots by as many. Yet in that window
    nothing of ours has expired at the server, so each arrival raises its
    count by exactly one and each admitted answer of ours carries a count no
    other answer of ours carries. A count below the highest one seen that no
    answer carried belongs to an arrival that was not ours, unless one of
    ours still unanswered, sent before that highest count was read, carries
    it later: the gaps beyond those are someone else's use, proven.

    Anything that breaks the premise (a count seen twice, which expiries
    cause, or the window's end) switches it off for good: it then proves
    nothing, and costs nothing per request.
    """

    __slots__ = ("_end", "_highest", "_holes", "_outstanding", "_seen", "live")

    def __init__(self) -> None:
        self.live = True
        self._end: float | None = None  # the first slot's time plus the window
        self._seen: set[int] = set()  # counts carried by admitted answers of ours
        self._highest = 0
        # Counts below the highest that no answer carried -> slots ever added
        # when a higher one was first read: only a request of ours taken by
        # then can have arrived before it and carry that count still.
        self._holes: dict[int, int] = {}
        # Ticket ``added`` values of slots taken and not answered yet.
        self._outstanding: set[int] = set()

    def taken(self, now: float, window: float, added: int) -> None:
        """A slot was taken at ``now``; ``added`` is its ticket's."""
        if not self.live:
            return
        if self._end is None:
            self._end = now + window
        elif now >= self._end:
            self._stop()
            return
        self._outstanding.add(added)

    def answered(self, now: float, sent: int | None, count: int | None, added_now: int) -> int:
        """Someone else's requests proven so far, after an answer.

        ``sent``: the ticket's ``added`` (None: unknown); ``count``: the
        server's count at its arrival, None unless it admitted the request
        with room left; ``added_now``: slots ever added, now.
        """
        if not self.live:
            return 0
        if sent is not None:
            self._outstanding.discard(sent)
        if self._end is None or now >= self._end:
            self._stop()
            return 0
        if count is not None:
            if count in self._seen:
                self._stop()  # something expired: counts no longer rise one by one
                return 0
            self._seen.add(count)
            if count > self._highest:
                for hole in range(self._highest + 1, count):
                    self._holes[hole] = added_now
                self._highest = count
            else:
                self._holes.pop(count, None)
        if not self._holes:
            return 0
        # Each request of ours still unanswered fills at most one hole, one
        # it was taken early enough for: the most they can fill, greedily
        # (the holes by their bound, the requests by when they were taken).
        pending = sorted(self._outstanding)
        filled = taken = 0
        for bound in sorted(self._holes.values()):
            while taken < len(pending) and pending[taken] <= bound:
                taken += 1
            if taken > filled:
                filled += 1
        return len(self._holes) - filled

    def _stop(self) -> None:
        self.live = False
        self._seen.clear()
        self._holes.clear()
        self._outstanding.clear()
