"""Test helpers: a limiter that records how it is used, and a clock that jumps."""

from __future__ import annotations

import asyncio

from billabex_async._ratelimit import Ticket

from ._virtual_time import CallableClock


class JumpClock(CallableClock):
    """Virtual seconds that ``sleep`` moves (see ``VirtualClock``); every delay asked is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


class RecordingLimiter:
    """The ``Limiter`` protocol, keeping count: every acquire must be released once.

    ``pause`` holds later acquires on ``clock``; ``gate``, when set, holds
    every acquire until the test opens it. ``limit`` and ``window`` are only
    reported (nothing is held by them).
    """

    def __init__(
        self, clock: JumpClock | None = None, *, limit: int = 300, window: float = 60.0
    ) -> None:
        self.clock = clock or JumpClock()
        self.limit = limit
        self.window = window
        self.acquired = 0
        self.released = 0
        self.pauses: list[float] = []
        self.observed: list[tuple[int | None, int | None, float | None]] = []
        self.paused_until = 0.0
        self.waits: list[float] = []  # how long each acquire was held by a pause
        self.gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()  # set once an acquire is held at the gate

    @property
    def in_flight(self) -> int:
        return self.acquired - self.released

    async def acquire(self) -> Ticket:
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        wait = self.paused_until - self.clock()
        if wait > 0:
            self.waits.append(wait)
            await self.clock.sleep(wait)
        self.acquired += 1
        return Ticket(self.in_flight, self.acquired, self)

    def release(self) -> None:
        self.released += 1
        assert self.released <= self.acquired, "a slot was released twice"

    def observe(
        self,
        *,
        limit: int | None,
        remaining: int | None,
        reset: float | None,
        sent: Ticket | None = None,
    ) -> None:
        self.observed.append((limit, remaining, reset))

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.paused_until = max(self.paused_until, self.clock() + seconds)
