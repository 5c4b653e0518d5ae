"""Rate-limit layer: the slots kept free for another consumer of the token, seen only in headers."""

from __future__ import annotations

import math
from collections import deque

__all__ = ["ForeignReserve"]


class ForeignReserve:
    """How many slots another consumer of the same token is assumed to hold now.

    The limiter counts someone else's requests (phantoms) only as it sees
    them in the X-RateLimit-Remaining of its own answers. While every slot
    of ours is held, nothing is answered, that consumer keeps sending, and a
    phantom that expires frees a slot the server may already have given it
    again: the next request of ours overshoots. So after each answer the
    estimate is the larger of the phantoms held then and the phantoms seen
    per window over the last two windows (a rate, which the timing of
    sightings does not skew); the most estimated at any answer of the last
    window holds, plus a slack for that consumer's bursts. Until a phantom
    is seen it is 0: a token used alone never waits for it.

    If the first answer showed nobody else, a consumer seen within our first
    window started after us: two windows of sightings would dilute its rate
    over time it was not running, so within that window its rate is taken
    over the time since that first answer (at least a fiftieth of a window),
    and one sighting is enough; the estimate holds a window, over the next
    window's first requests. On the simulator at 20 %, waiting for a second
    sighting let those overshoot. Later, the phantoms held show that consumer
    in full, and the two-window rate holds again (kept longer, it cost a
    consumer at 40 % a tenth of what it leaves us).

    Not thread-safe; every ``now`` is the limiter's clock, in seconds.
    """

    __slots__ = ("_fresh", "_peaks", "_seen", "_sightings", "_since", "_until", "_value")

    def __init__(self) -> None:
        # (clock time, phantoms added then) over the last two windows, and their sum.
        self._sightings: deque[tuple[float, int]] = deque()
        self._seen = 0
        # (lapses at, estimate) per answer, the estimates decreasing from the
        # front (a monotonic queue): the front is the largest still in force.
        self._peaks: deque[tuple[float, int]] = deque()
        self._value = 0  # the front's estimate, cached; 0 when empty
        self._until = 0.0  # when the front lapses
        # The first answer's time, and whether it showed nobody else.
        self._since: float | None = None
        self._fresh = False

    def answered(self, now: float, window: float, *, added: int, held: int) -> None:
        """An answer's headers were read: ``added`` phantoms counted, ``held`` now."""
        sightings = self._sightings
        since = self._since
        if since is None:
            since = self._since = now
            self._fresh = added == 0
        if added > 0:
            sightings.append((now, added))
            self._seen += added
        while sightings and sightings[0][0] + 2 * window <= now:
            self._seen -= sightings.popleft()[1]
        # One sighting may be a burst that is over (then Reset frees its
        # oldest slot, as the header says); seen again later, that consumer
        # keeps sending.
        ongoing = len(sightings) > 1 and sightings[-1][0] > sightings[0][0]
        # After a first answer that showed nobody, a sighting within our first
        # window is a consumer that started since, not a burst of the past
        # whose end Reset shows; and once that window is spent nothing is
        # answered until it turns, while that consumer keeps sending: a
        # second sighting would come too late.
        ongoing = ongoing or (
            self._fresh and bool(sightings) and since < sightings[0][0] < since + window
        )
        estimate = max(held, -(-self._seen // 2), self._since_start(now, window)) if ongoing else 0
        peaks = self._peaks
        while peaks and peaks[-1][1] <= estimate:
            peaks.pop()
        if estimate:
            peaks.append((now + window, estimate))
        self._front(now)

    def _since_start(self, now: float, window: float) -> int:
        """Phantoms per window at the rate since a first answer showing nobody (first window)."""
        if not self._fresh or self._since is None:
            return 0
        elapsed = now - self._since
        if elapsed >= window:
            return 0
        return math.ceil(self._seen * window / max(elapsed, window / 50))

    def unseen(self, now: float, held: int) -> int:
        """Slots to keep free beyond the ``held`` phantoms still counted."""
        if not self._value:
            return 0
        if now >= self._until:
            self._front(now)
            if not self._value:
                return 0
        # Two standard deviations of a Poisson count of that size, and one
        # for a window edge: in virtual time this took a steady consumer at
        # 10-40 % of the limit to 0 429s, a Poisson one to a few per thousand.
        slack = 1 + 2 * math.isqrt(self._value)
        return max(0, self._value + slack - held)

    def lapses(self) -> float | None:
        """When the estimate in force changes with time alone (None: it is 0)."""
        return self._until if self._value else None

    def _front(self, now: float) -> None:
        peaks = self._peaks
        while peaks and peaks[0][0] <= now:
            peaks.popleft()
        self._value, self._until = peaks[0][::-1] if peaks else (0, 0.0)
