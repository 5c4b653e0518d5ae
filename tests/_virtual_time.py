"""Test helper: a virtual clock, so limiter and backoff tests never really sleep."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Coroutine
from typing import Any


class VirtualClock:
    """``clock()`` reads virtual seconds; ``sleep(d)`` parks until ``run`` moves time there.

    ``run`` lets every task go as far as it can, then jumps to the earliest
    pending wake-up, until the given tasks finish.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay), next(self._seq), future))
        await future

    async def settle(self) -> None:
        """Let every runnable task run until all are parked or done."""
        for _ in range(20):
            await asyncio.sleep(0)

    async def run(self, *coros: Coroutine[Any, Any, Any], until: float = 1e9) -> list[Any]:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while True:
            await self.settle()
            if all(t.done() for t in tasks):
                return [t.result() for t in tasks]
            while self._sleepers and self._sleepers[0][2].cancelled():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > until:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise AssertionError(f"stuck at t={self.now}: no wake-up pending")
            at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            future.set_result(None)
