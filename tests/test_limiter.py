"""The sliding-window limiter, on virtual time: it never lets more than N
requests reach the server in any window, yet runs close to the limit."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
import time
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billabex_async._http import TokenSource
from billabex_async._ratelimit import SlidingWindowLimiter, Ticket, shared_memory_limiter
from billabex_async._ratelimit.window import Window
from billabex_async.errors import AuthRefreshError, InvalidRequestError

from ._virtual_time import VirtualClock


def _worst_window_count(intervals: list[tuple[float, float]], window: float) -> int:
    """Most requests that may have *arrived* within one window.

    A request arrived somewhere in [sent, answered]; an adversary picks the
    arrival. Requests that may fall in the window ending at T: sent <= T and
    answered > T - window. The count can only rise at a send time.
    """
    worst = 0
    for t, _ in intervals:
        count = sum(1 for s, r in intervals if s <= t and r > t - window)
        worst = max(worst, count)
    return worst


async def _drive(
    limiter: SlidingWindowLimiter,
    clock: VirtualClock,
    *,
    workers: int,
    requests: int,
    latency: tuple[float, float],
    seed: int = 7,
) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    intervals: list[tuple[float, float]] = []
    left = [requests]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await limiter.acquire()
            sent = clock()
            await clock.sleep(rng.uniform(*latency))
            limiter.release()
            intervals.append((sent, clock()))

    await clock.run(*(worker() for _ in range(workers)))
    return intervals


async def test_never_more_than_limit_in_any_window_despite_latency_jitter() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    intervals = await _drive(limiter, clock, workers=16, requests=200, latency=(0.0, 0.6))
    assert len(intervals) == 200
    assert _worst_window_count(intervals, 1.0) <= 10


async def test_runs_close_to_the_limit_when_latency_is_small() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(300, 60.0, clock=clock, sleep=clock.sleep)
    intervals = await _drive(limiter, clock, workers=16, requests=3000, latency=(0.05, 0.15))
    duration = max(r for _, r in intervals) - min(s for s, _ in intervals)
    # 3000 requests at 300/60 s cannot take less than 9 windows; in-flight
    # accounting costs latency/window, about 0.2 % here.
    windows = duration / 60.0
    assert 9.0 <= windows < 9.0 * 1.02
    assert _worst_window_count(intervals, 60.0) <= 300


async def test_pause_holds_every_sender_until_it_ends() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(100, 1.0, clock=clock, sleep=clock.sleep)
    limiter.pause(5.0)
    granted: list[float] = []

    async def sender() -> None:
        await limiter.acquire()
        granted.append(clock())

    await clock.run(*(sender() for _ in range(3)))
    assert granted == [5.0, 5.0, 5.0]


async def test_a_shorter_pause_does_not_shorten_a_longer_one() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(100, 1.0, clock=clock, sleep=clock.sleep)
    limiter.pause(5.0)
    limiter.pause(1.0)

    async def sender() -> float:
        await limiter.acquire()
        return clock()

    assert await clock.run(sender()) == [5.0]


async def test_observe_counts_requests_someone_else_sent() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 60.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    limiter.release()
    # The server counted 8 of 10 (we sent 1): 7 came from another process.
    limiter.observe(limit=10, remaining=2, reset=None)
    assert limiter.used() == 8

    granted: list[float] = []

    async def sender() -> None:
        await limiter.acquire()
        granted.append(clock())
        limiter.release()

    await clock.run(*(sender() for _ in range(3)))
    assert granted[:2] == [0.0, 0.0]
    assert granted[2] >= 60.0  # the third waits for the window to free up


async def test_observe_never_undercounts_our_own_requests() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 60.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await limiter.acquire()
        limiter.release()
    # The server saw fewer of ours than we count (its window moved): keep ours.
    limiter.observe(limit=10, remaining=9, reset=None)
    assert limiter.used() == 5


async def test_observe_adopts_a_lower_limit_from_the_server() -> None:
    limiter = SlidingWindowLimiter(300, 60.0)
    limiter.observe(limit=100, remaining=None, reset=None)
    assert limiter.limit == 100
    limiter.observe(limit=500, remaining=None, reset=None)
    assert limiter.limit == 100


async def test_waiters_are_served_in_arrival_order() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(1, 1.0, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def sender(i: int) -> None:
        await limiter.acquire()
        order.append(i)
        limiter.release()

    await clock.run(*(sender(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert clock.now == pytest.approx(4.0, abs=0.1)


async def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await clock.settle()
    waiter.cancel()
    await clock.settle()
    assert waiter.cancelled()
    limiter.release()
    assert limiter.used() == 1  # only the finished one, counting for its window

    async def later() -> float:
        await limiter.acquire()
        return clock()

    [granted_at] = await clock.run(later())
    assert granted_at == pytest.approx(10.0, abs=0.01)


async def test_repr_shows_live_state() -> None:
    limiter = SlidingWindowLimiter(5, 2.0)
    await limiter.acquire()
    assert "in_flight=1" in repr(limiter)
    assert "5/2s" in repr(limiter)


class _CountingProvider:
    def __init__(self) -> None:
        self.refreshes = 0
        self.token = "t0"

    async def get_token(self) -> str:
        return self.token

    async def refresh(self, rejected: str) -> str:
        self.refreshes += 1
        await asyncio.sleep(0)
        self.token = f"t{self.refreshes}"
        return self.token


async def test_a_hundred_concurrent_401s_cause_one_refresh() -> None:
    provider = _CountingProvider()
    source = TokenSource(provider)
    stale = await source.get()
    fresh = await asyncio.gather(*(source.refresh(stale) for _ in range(100)))
    assert provider.refreshes == 1
    assert set(fresh) == {"t1"}


async def test_a_fixed_token_cannot_be_refreshed() -> None:
    source = TokenSource("abc")
    assert not source.can_refresh
    with pytest.raises(AuthRefreshError):
        await source.refresh("abc")
    assert "abc" not in repr(source)


async def test_observe_reads_the_count_by_the_servers_own_limit() -> None:
    clock = VirtualClock()
    # We hold ourselves to 100 of the server's 300.
    limiter = SlidingWindowLimiter(100, 60.0, clock=clock, sleep=clock.sleep)
    limiter.observe(limit=300, remaining=250, reset=None)  # the server counts 50
    assert limiter.used() == 50
    limiter.observe(limit=300, remaining=0, reset=None)  # full: cap at our window
    assert limiter.used() == 100


async def test_a_server_announced_limit_lapses_a_window_after_its_last_mention() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    limiter.observe(limit=2, remaining=None, reset=None)
    assert limiter.limit == 2
    clock.now = 0.6
    limiter.observe(limit=2, remaining=None, reset=None)  # still said: still holds
    clock.now = 1.5
    assert limiter.limit == 2
    clock.now = 1.7  # a window after the last response that said so
    assert limiter.limit == 10


async def test_a_server_announced_limit_never_raises_ours() -> None:
    limiter = SlidingWindowLimiter(10, 1.0)
    limiter.observe(limit=500, remaining=None, reset=None)
    assert limiter.limit == 10
    limiter.observe(limit=0, remaining=None, reset=None)  # nonsense: ignored
    assert limiter.limit == 10


async def test_senders_get_the_configured_limit_back_once_the_lower_one_lapses() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    limiter.observe(limit=1, remaining=None, reset=None)
    granted: list[float] = []

    async def sender() -> None:
        await limiter.acquire()
        granted.append(clock())
        limiter.release()

    await clock.run(*(sender() for _ in range(5)))
    # One slot while the server's 1 holds, then all four at once: not one per window.
    assert granted[0] == 0.0
    assert granted[1:] == [pytest.approx(1.005, abs=0.01)] * 4


async def test_every_limit_added_holds_and_the_smallest_is_reported() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    limiter.add_limit(4, 1.0)
    assert limiter.limit == 4
    intervals = await _drive(limiter, clock, workers=8, requests=40, latency=(0.0, 0.2))
    assert len(intervals) == 40
    assert _worst_window_count(intervals, 1.0) <= 4


def test_limiter_bounds_are_checked_like_rate_limits() -> None:
    for limit, window in [(0, 1.0), (5, 0.0), (5, float("nan")), (1.5, 1.0)]:
        with pytest.raises(InvalidRequestError):
            SlidingWindowLimiter(limit, window)  # type: ignore[arg-type]
    limiter = SlidingWindowLimiter(5, 1.0)
    with pytest.raises(InvalidRequestError):
        limiter.add_limit(-1, 1.0)


@settings(max_examples=40, deadline=None)
@given(
    limits=st.lists(
        st.tuples(st.integers(1, 12), st.sampled_from([0.5, 1.0, 3.0])), min_size=1, max_size=3
    ),
    workers=st.integers(1, 10),
    latency=st.floats(0.0, 0.8),
    seed=st.integers(0, 1000),
)
def test_no_window_of_any_limit_ever_overfills(
    limits: list[tuple[int, float]], workers: int, latency: float, seed: int
) -> None:
    async def scenario() -> list[tuple[float, float]]:
        clock = VirtualClock()
        (first_limit, first_window), *rest = limits
        limiter = SlidingWindowLimiter(first_limit, first_window, clock=clock, sleep=clock.sleep)
        for limit, window in rest:
            limiter.add_limit(limit, window)
        return await _drive(
            limiter, clock, workers=workers, requests=40, latency=(0.0, latency), seed=seed
        )

    intervals = asyncio.run(scenario())
    assert len(intervals) == 40
    for limit, window in limits:
        assert _worst_window_count(intervals, window) <= limit


async def test_observe_holds_foreign_requests_only_until_reset() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 60.0, clock=clock, sleep=clock.sleep)
    # The server counts all 10, and frees its window in 5 s.
    limiter.observe(limit=10, remaining=0, reset=time.time() + 5.0)
    assert limiter.used() == 10

    async def sender() -> float:
        await limiter.acquire()
        return clock()

    [granted_at] = await clock.run(sender())
    assert 4.0 <= granted_at <= 5.1


def test_the_last_limit_always_stays_and_unknown_handles_are_ignored() -> None:
    window = Window(5, 1.0)
    window.remove_limit(0)
    window.remove_limit(42)
    assert window.limits(0.0) == [(5, 1.0)]
    extra = window.add_limit(3, 1.0)
    window.remove_limit(42)  # unknown, with two limits set: ignored
    window.remove_limit(extra)
    window.remove_limit(extra)  # twice: ignored
    assert window.limits(0.0) == [(5, 1.0)]


def test_on_a_tie_the_longer_window_is_reported() -> None:
    limiter = SlidingWindowLimiter(10, 1.0)
    limiter.add_limit(10, 5.0)
    assert (limiter.limit, limiter.window) == (10, 5.0)
    limiter.add_limit(4, 60.0)
    assert (limiter.limit, limiter.window) == (4, 60.0)


async def test_a_short_pause_lasts_exactly_as_long() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    limiter.pause(-1.0)  # nonsense: no pause at all
    limiter.pause(0.3)

    async def sender() -> float:
        await limiter.acquire()
        return clock()

    assert await clock.run(sender()) == [pytest.approx(0.3)]


async def test_pauses_and_announced_limits_are_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="billabex_async")
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)

    def said() -> list[str]:
        messages = [r.getMessage() for r in caplog.records]
        caplog.clear()
        return messages

    limiter.pause(5.0)
    assert said() == ["rate limited by the server: every sender paused 5.00s"]
    limiter.pause(5.0)  # the same pause again: changes nothing, says nothing
    limiter.pause(1.0)
    assert said() == []
    limiter.observe(limit=10, remaining=None, reset=None)  # our own limit: nothing to say
    assert said() == []
    limiter.observe(limit=2, remaining=None, reset=None)
    assert said() == ["the server announces 2 requests per window: applied"]
    limiter.observe(limit=2, remaining=None, reset=None)  # the same again
    assert said() == []


async def test_remaining_is_read_against_our_limit_when_the_server_sends_none() -> None:
    limiter = SlidingWindowLimiter(10, 60.0)
    limiter.observe(limit=None, remaining=2, reset=None)
    assert limiter.used() == 8
    other = SlidingWindowLimiter(10, 60.0)
    other.observe(limit=0, remaining=3, reset=None)  # a zero limit is no limit: ours
    assert other.used() == 7
    one = SlidingWindowLimiter(10, 60.0)
    one.observe(limit=10, remaining=9, reset=None)  # a single foreign request counts too
    assert one.used() == 1


async def test_repr_shows_the_servers_cap_and_the_pause_left() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    assert "paused=0.00s" in repr(limiter)
    clock.now = 1.0
    await limiter.acquire()
    limiter.observe(limit=3, remaining=None, reset=None)
    limiter.pause(2.5)
    assert repr(limiter) == (
        "<SlidingWindowLimiter 3/1s in_flight=1 counted=1 waiting=0 paused=2.50s>"
    )


def test_the_first_clients_limit_also_goes_with_it() -> None:
    class Owner:
        """Stands for a client: only its lifetime matters."""

    strict, loose = Owner(), Owner()
    limiter = shared_memory_limiter("test-first-client-limit", 5, 1.0, owner=strict)
    assert shared_memory_limiter("test-first-client-limit", 10, 1.0, owner=loose) is limiter
    assert limiter.limit == 5
    del strict
    gc.collect()
    assert limiter.limit == 10
    del loose


async def test_a_waiter_cancelled_as_its_slot_is_granted_hands_it_back() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await clock.settle()
    limiter.release()  # counts one window more
    clock.now = 10.1
    limiter._wake()  # what the timer does at that time: the waiter is granted
    waiter.cancel()  # ...and cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.used() == 0  # its slot went back
    assert "in_flight=0" in repr(limiter)


async def test_a_shorter_windows_count_leaves_out_older_slots() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    limiter.add_limit(100, 10.0)  # keeps finished slots for 10 s
    for _ in range(3):
        await limiter.acquire()
        limiter.release()
    clock.now = 5.0
    assert (limiter.limit, limiter.window) == (10, 1.0)
    assert limiter.used() == 0  # none in the last second
    await limiter.acquire()
    assert limiter.used() == 1


async def test_a_grant_cancelled_in_flight_hands_back_one_slot_only() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(2, 10.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await clock.settle()
    limiter.release()
    clock.now = 10.1
    limiter._wake()  # granted...
    waiter.cancel()  # ...and cancelled before it ran
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert "in_flight=1 " in repr(limiter)  # the other one is still out


async def test_waiters_resume_when_the_servers_lower_limit_lapses() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    limiter.observe(limit=1, remaining=None, reset=None)  # holds until 1.005
    clock.now = 0.5
    limiter.release()  # counts until 1.505

    async def sender() -> float:
        await limiter.acquire()
        return clock()

    # Free once the server's 1 lapses, not when our own slot expires.
    assert await clock.run(sender()) == [pytest.approx(1.005)]


async def test_the_earliest_foreign_request_to_expire_frees_the_next_slot() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(2, 60.0, clock=clock, sleep=clock.sleep)
    limiter.observe(limit=10, remaining=9, reset=time.time() + 2.0)  # one until ~2 s
    limiter.observe(limit=10, remaining=8, reset=time.time() + 5.0)  # one more until ~5 s
    assert limiter.used() == 2

    async def sender() -> float:
        await limiter.acquire()
        return clock()

    [granted_at] = await clock.run(sender())
    assert 1.5 <= granted_at <= 2.1


def test_a_finished_event_loop_is_not_kept_alive_by_the_limiter() -> None:
    limiter = SlidingWindowLimiter(1, 0.05)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def burst() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))

        async def one() -> None:
            await limiter.acquire()
            limiter.release()

        await asyncio.gather(*(one() for _ in range(3)))  # two of them wait

    for _ in range(2):  # as a CLI or a job calling asyncio.run twice does
        asyncio.run(burst())
    gc.collect()
    assert [ref() for ref in loops] == [None, None]


async def test_a_waiter_whose_loop_was_closed_gives_its_slot_back() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(1, 10.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()

    tasks: list[asyncio.Task[Ticket]] = []

    def abandoned_waiter() -> None:
        # Another thread's loop queues a waiter, then closes without cancelling it.
        loop = asyncio.new_event_loop()
        tasks.append(loop.create_task(limiter.acquire()))
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    thread = threading.Thread(target=abandoned_waiter)
    thread.start()
    thread.join()
    limiter.release()
    clock.now = 10.1
    limiter._wake()  # what the timer does then: the slot goes to the dead waiter...
    assert "in_flight=0 " in repr(limiter)  # ...and straight back
    async with asyncio.timeout(5.0):  # a lost slot would block this forever
        await limiter.acquire()


async def test_foreign_requests_are_held_only_until_a_close_reset() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(1, 60.0, clock=clock, sleep=clock.sleep)
    limiter.observe(limit=1, remaining=0, reset=time.time() + 0.4)

    async def sender() -> float:
        await limiter.acquire()
        return clock()

    [granted_at] = await clock.run(sender())
    assert 0.2 <= granted_at <= 0.5


async def test_a_shorter_window_keeps_the_edge_margin() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    limiter.add_limit(100, 10.0)
    await limiter.acquire()
    limiter.release()
    clock.now = 1.004  # one window later, but inside the 5 ms margin: still counted
    assert limiter.used() == 1
    clock.now = 1.006
    assert limiter.used() == 0


async def test_remaining_without_a_limit_is_read_against_the_servers_last_one() -> None:
    limiter = SlidingWindowLimiter(10, 60.0)
    limiter.observe(limit=3, remaining=None, reset=None)
    limiter.observe(limit=None, remaining=1, reset=None)  # 2 of the server's 3 used
    assert limiter.used() == 2
