"""Test helper: a hand-driven VirtualClock, so limiter and backoff tests never really sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from billabex_async.testing import VirtualClock as _Clock


class CallableClock(_Clock):
    """The public VirtualClock, also readable as ``clock()`` and ``clock.now``.

    Limiters take a plain callable; tests move ``now`` by hand, forward only.
    """

    __call__ = _Clock.time  # limiters read it thousands of times: no extra call

    def _move(self, value: float) -> None:
        self.advance(value - self.time())

    now = property(_Clock.time, _move)


class VirtualClock(CallableClock):
    """``clock()`` reads virtual seconds; ``sleep(d)`` parks until ``run`` moves time there.

    ``run`` lets every task go as far as it can, then wakes the earliest
    pending sleeper, until the given tasks finish; with nothing pending (or
    the next wake-up past ``until``) it fails instead of hanging.
    """

    def __init__(self) -> None:
        super().__init__(auto=False)

    async def run(self, *coros: Coroutine[Any, Any, Any], until: float = 1e9) -> list[Any]:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while True:
            await self.settle()
            if all(t.done() for t in tasks):
                return [t.result() for t in tasks]
            deadline = self.next_deadline
            if deadline is None or deadline > until:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise AssertionError(f"stuck at t={self.now}: no wake-up pending")
            self.step()
