"""Simulator layer: VirtualClock, virtual time a client and a FakeBillabex can share."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable

from billabex_async._types import Clock

__all__ = ["VirtualClock", "time_and_sleep"]

_SETTLE_PASSES = 20  # event-loop passes that count as "everything runnable has run"


class VirtualClock:
    """A ``Clock`` whose sleeps return at once in wall time and move virtual time forward.

    Share one with a client and a simulator, and a run that waits on rate
    windows, backoff or injected latency takes milliseconds::

        clock = VirtualClock()
        async with FakeBillabex(rate_limit=RateLimit(40, 1.0), clock=clock) as fake:
            async with BillabexClient(fake.token, base_url=fake.url, clock=clock) as client:
                ...  # 400 upserts: ten virtual seconds, no 429
        clock.time()  # about 10.0

    Exact semantics:

    - ``time()`` starts at ``start`` and never moves backward; only waking a
      sleeper (or ``advance``) moves it.
    - ``sleep(d)`` sets the deadline ``time() + max(d, 0)`` and parks the caller.
    - With ``auto`` (the default), once the event loop has run every ready
      callback (``settle``: a fixed number of loop passes, so work that
      waits on sockets of this loop progresses too), the sleeper holding the
      earliest deadline wakes and time jumps to that deadline. Ties wake in
      the order ``sleep`` was called. One sleeper wakes at a time: the next is
      considered after the loop settles again, so whatever the woken one
      starts runs at its deadline, before later deadlines.
    - A cancelled sleep leaves the queue and moves no time.
    - Without ``auto``, time moves only when the caller says: ``step()``
      wakes the earliest sleeper, ``advance(s)`` jumps ahead and wakes every
      sleeper due by then, in deadline order.

    Only asyncio work that waits on this clock is virtual: ``asyncio.sleep``
    and socket timeouts (such as the client's ``timeout``) still run on the
    wall clock. Use it from one event loop at a time.
    """

    __slots__ = ("_auto", "_driver", "_now", "_order", "_passes", "_sleepers")

    def __init__(self, start: float = 0.0, *, auto: bool = True) -> None:
        self._now = float(start)
        self._auto = auto
        self._passes = _SETTLE_PASSES
        # Parked sleepers as a heap of (deadline, call order, future): the
        # earliest deadline on top, ties in call order.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        # The task that wakes sleepers when ``auto``; alive while any is parked.
        self._driver: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        due = self.next_deadline
        nxt = "" if due is None else f" next={due:.6g}"
        return f"<VirtualClock t={self._now:.6g} sleepers={self.pending}{nxt}>"

    def time(self) -> float:
        """Virtual seconds."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Park until virtual time reaches ``time()`` + ``seconds`` (negative: 0)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._order), future))
        if self._auto:
            self._ensure_driver(loop)
        await future

    @property
    def pending(self) -> int:
        """How many sleepers are parked."""
        return sum(not future.done() for _, _, future in self._sleepers)

    @property
    def next_deadline(self) -> float | None:
        """The earliest parked deadline, or None when nobody sleeps."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def step(self) -> bool:
        """Wake the earliest sleeper, moving time to its deadline; False if none sleeps."""
        self._drop_cancelled()
        if not self._sleepers:
            return False
        deadline, _, future = heapq.heappop(self._sleepers)
        self._now = max(self._now, deadline)
        future.set_result(None)
        return True

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` (>= 0) ahead and wake every sleeper due by then, in deadline order."""
        if seconds < 0:
            raise ValueError(f"time never moves backward, got {seconds}")
        self._now += seconds
        self._drop_cancelled()
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
            self._drop_cancelled()

    async def settle(self) -> None:
        """Let every runnable task run until it parks or finishes (a fixed number of passes)."""
        for _ in range(self._passes):
            await asyncio.sleep(0)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    def _ensure_driver(self, loop: asyncio.AbstractEventLoop) -> None:
        driver = self._driver
        if driver is not None and not driver.done():
            if driver.get_loop() is not loop:
                raise RuntimeError("a VirtualClock serves one event loop at a time")
            return
        self._driver = loop.create_task(self._drive(), name="VirtualClock driver")

    async def _drive(self) -> None:
        # Wake sleepers one at a time, each once the loop has settled.
        while True:
            await self.settle()
            if not self.step():
                return


def time_and_sleep(
    clock: Clock | Callable[[], float],
) -> tuple[Callable[[], float], Callable[[float], Awaitable[None]]]:
    """A ``Clock``'s two halves; a bare callable (the older form) sleeps on asyncio."""
    if hasattr(clock, "time") and hasattr(clock, "sleep"):
        return clock.time, clock.sleep
    if not callable(clock):
        raise TypeError(f"clock must be a Clock or a callable returning seconds, got {clock!r}")
    return clock, asyncio.sleep
