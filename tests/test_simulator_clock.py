"""VirtualClock: deadline order, time never backward, shared by a client and the simulator."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billabex_async import BillabexClient, Clock, RateLimit
from billabex_async.testing import FakeBillabex, VirtualClock

delays = st.lists(
    st.lists(st.floats(min_value=-1.0, max_value=100.0, allow_nan=False), max_size=4),
    min_size=1,
    max_size=6,
)


@given(delays)
@settings(max_examples=60, deadline=None)
def test_sleepers_wake_in_deadline_order_at_their_deadline(plans: list[list[float]]) -> None:
    woke: list[tuple[float, float]] = []  # (deadline, time seen on waking)
    seen: list[float] = []

    async def sleeper(plan: list[float]) -> None:
        for delay in plan:
            deadline = clock.time() + max(0.0, delay)
            await clock.sleep(delay)
            woke.append((deadline, clock.time()))
            seen.append(clock.time())

    clock = VirtualClock()
    asyncio.run(asyncio.wait_for(_gather(sleeper(p) for p in plans), 5.0))
    assert all(at == deadline for deadline, at in woke)  # exactly at its deadline
    assert seen == sorted(seen)  # wakes in deadline order: time never moves backward
    assert clock.time() == max((d for d, _ in woke), default=0.0)
    assert clock.pending == 0


async def _gather(coros: object) -> None:
    await asyncio.gather(*coros)  # type: ignore[misc]


async def test_equal_deadlines_wake_in_call_order() -> None:
    clock = VirtualClock(start=5.0)
    order: list[int] = []

    async def sleeper(i: int) -> None:
        await clock.sleep(1.0)
        order.append(i)

    await asyncio.gather(*(sleeper(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert clock.time() == 6.0


async def test_what_a_woken_sleeper_starts_runs_before_a_later_deadline() -> None:
    clock = VirtualClock()
    events: list[tuple[str, float]] = []

    async def early() -> None:
        await clock.sleep(1.0)
        events.append(("early", clock.time()))
        await asyncio.sleep(0)  # a few loop passes of work, still at t=1
        await asyncio.sleep(0)
        events.append(("early done", clock.time()))

    async def late() -> None:
        await clock.sleep(1.5)
        events.append(("late", clock.time()))

    await asyncio.gather(late(), early())
    assert events == [("early", 1.0), ("early done", 1.0), ("late", 1.5)]


async def test_a_cancelled_sleep_moves_no_time() -> None:
    clock = VirtualClock()
    parked = asyncio.ensure_future(clock.sleep(60.0))
    await asyncio.sleep(0)
    parked.cancel()
    await clock.sleep(2.0)
    assert parked.cancelled()
    assert clock.time() == 2.0
    assert clock.pending == 0


async def test_without_auto_time_moves_only_by_step_and_advance() -> None:
    clock = VirtualClock(auto=False)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, delay: float) -> None:
        await clock.sleep(delay)
        woke.append((name, clock.time()))

    tasks = [asyncio.ensure_future(sleeper(n, d)) for n, d in (("b", 3.0), ("a", 1.0), ("c", 9.0))]
    await clock.settle()
    assert (clock.time(), clock.pending, clock.next_deadline) == (0.0, 3, 1.0)
    assert "sleepers=3 next=1" in repr(clock)
    assert clock.step()
    await clock.settle()
    assert woke == [("a", 1.0)]
    clock.advance(4.0)  # to 5.0: b is due, c is not
    await clock.settle()
    assert woke == [("a", 1.0), ("b", 5.0)]
    assert clock.step()
    await asyncio.gather(*tasks)
    assert woke[-1] == ("c", 9.0)
    assert not clock.step()
    with pytest.raises(ValueError, match="backward"):
        clock.advance(-1.0)


def test_it_is_a_clock() -> None:
    clock: Clock = VirtualClock()  # the protocol the client and the simulator take
    assert clock.time() == 0.0


async def test_injected_latency_waits_on_the_simulators_clock() -> None:
    clock = VirtualClock()
    async with (
        FakeBillabex(rate_limit=None, latency=30.0, clock=clock) as fake,
        aiohttp.ClientSession() as session,
    ):
        headers = {"Authorization": f"Bearer {fake.token}"}
        url = f"{fake.url}/api/public/v1/accounts/{fake.account_id}/contacts"
        async with session.get(url, headers=headers) as response:
            assert response.status == 200
    assert clock.time() == 30.0  # half a minute, in no wall time to speak of


async def test_a_client_and_the_simulator_agree_on_time() -> None:
    clock = VirtualClock()
    async with FakeBillabex(rate_limit=RateLimit(5, 10.0), clock=clock) as fake:
        async with BillabexClient(
            fake.token, base_url=fake.url, rate_limit=RateLimit(5, 10.0), clock=clock
        ) as client:
            for i in range(12):
                await client.contacts.create(fake.account_id, full_name=f"P{i:02}", language="en")
        arrivals = [r.time for r in fake.requests]
    assert fake.stats.rate_limited == 0
    # Five per window of ten seconds: the 6th and 11th wait for the window.
    assert arrivals[5] >= 10.0
    assert arrivals[10] >= 20.0
    assert clock.time() >= 20.0
