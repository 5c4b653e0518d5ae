"""Someone else's requests in a token's first window: proven from the server's counts alone."""

from __future__ import annotations

from billabex_async._ratelimit.gaps import FirstWindowGaps
from billabex_async._ratelimit.protocol import Ticket
from billabex_async._ratelimit.reserve import ForeignReserve
from billabex_async._ratelimit.window import Window

LIMIT = 10


def _burst(foreign_after: int | None) -> int:
    """Four in flight, each answer sends the next while a slot is free; the server's top count.

    Someone else arrives right after our ``foreign_after``-th request.
    """
    window = Window(LIMIT, 10.0)

    def take() -> Ticket | None:
        count = window.try_take(0.0)
        return None if count is None else Ticket(count, window.added, None)

    flying = [ticket for ticket in (take() for _ in range(4)) if ticket is not None]
    count = 0
    while flying:
        count += 1
        if count == (foreign_after or 0) + 1 and foreign_after is not None:
            count += 1  # the server counted someone else's first
        window.finish(0.0)
        window.observe(
            0.0, limit=LIMIT, remaining=max(0, LIMIT - count), reset_in=None, sent=flying.pop(0)
        )
        ticket = take()
        if ticket is not None:
            flying.append(ticket)
    return count


def test_a_foreign_request_amid_a_burst_is_proven_before_the_burst_overshoots() -> None:
    # Each answer is compared with our count at its send plus all sent
    # since: the requests sent during the burst hid the foreign one until
    # the window was spent, and our last request was the server's 11th of
    # 10. The counts show a hole at 3 no answer of ours carried; once the
    # requests taken early enough to carry it are answered, it is someone
    # else's, while there is still room to leave it.
    assert _burst(foreign_after=2) == LIMIT


def test_alone_no_hole_is_ever_taken_for_someone_else() -> None:
    assert _burst(foreign_after=None) == LIMIT


def test_answers_out_of_order_prove_nothing() -> None:
    # Ours arrived 1, 2, 3 but were answered 1, 3, then 2: the hole at 2 was
    # ours, in flight.
    gaps = FirstWindowGaps()
    for added in (1, 2, 3):
        gaps.taken(0.0, 10.0, added)
    assert gaps.answered(0.0, 1, 1, 3) == 0
    assert gaps.answered(0.0, 3, 3, 3) == 0
    assert gaps.answered(0.0, 2, 2, 3) == 0


def test_a_count_seen_twice_switches_the_proof_off() -> None:
    # Something expired at the server: counts no longer rise one by one.
    gaps = FirstWindowGaps()
    for added in (1, 2, 3):
        gaps.taken(0.0, 10.0, added)
    gaps.answered(0.0, 1, 1, 3)
    gaps.answered(0.0, 2, 1, 3)
    assert not gaps.live
    assert gaps.answered(0.0, 3, 5, 3) == 0


def test_after_the_first_window_nothing_is_proven() -> None:
    gaps = FirstWindowGaps()
    gaps.taken(0.0, 10.0, 1)
    gaps.taken(10.0, 10.0, 2)
    assert not gaps.live
    assert gaps.answered(10.0, 2, 5, 2) == 0


def test_a_consumer_seen_once_in_our_first_window_is_reserved_for_at_its_rate() -> None:
    # The first answer showed nobody; one request of someone else's a tenth
    # of a window later: 10 a window at that rate, kept free at once (a
    # second sighting would only come once the window turns).
    reserve = ForeignReserve()
    reserve.answered(0.0, 10.0, added=0, held=0)
    reserve.answered(1.0, 10.0, added=1, held=1)
    assert reserve.unseen(1.0, 1) == 10 + (1 + 2 * 3) - 1
    # Lapses a window after that answer, with no answer since.
    assert reserve.unseen(11.0, 0) == 0


def test_after_our_first_window_the_rate_is_taken_over_two_windows_again() -> None:
    # Later, the phantoms held show that consumer in full: 2 seen, 1 a window.
    reserve = ForeignReserve()
    reserve.answered(0.0, 10.0, added=0, held=0)
    reserve.answered(1.0, 10.0, added=1, held=1)
    reserve.answered(10.5, 10.0, added=1, held=1)
    assert reserve.unseen(11.5, 1) == 1 + (1 + 2 * 1) - 1


def test_a_consumer_seen_once_after_our_first_window_waits_for_a_second_sighting() -> None:
    reserve = ForeignReserve()
    reserve.answered(0.0, 10.0, added=0, held=0)
    reserve.answered(12.0, 10.0, added=1, held=1)
    assert reserve.unseen(12.0, 1) == 0
