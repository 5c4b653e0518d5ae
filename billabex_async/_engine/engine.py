"""Engine layer: a run's caller side: settled items handed on, cancellation, shutdown.

The workers (``Scheduler``) send; the caller's task only wakes to hand
settled items on (``run``), to raise what ended the run, or once at the end
(``drain``). On cancellation it stops reading and sending and gives the
requests in flight a grace period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import TypeVar

from billabex_async._engine.outcomes import Settled, account_key, stop_level
from billabex_async._engine.scheduler import LOOKAHEAD, Scheduler
from billabex_async._types import ProgressCallback

__all__ = ["LOOKAHEAD", "Engine", "ProgressCallback", "Settled", "account_key", "stop_level"]

logger = logging.getLogger("billabex_async")

T = TypeVar("T")


class Engine(Scheduler[T]):
    """Runs ops with bounded look-ahead and concurrency, conflicting ones in input order.

    Each op waits for the unsettled earlier ops it conflicts with (same
    email, same contact id, or names within Billabex's fuzzy distance), so
    the server sees conflicting writes in the order a sequential loop sends
    them; the others run ``concurrency`` at a time. Read, unsettled and
    settled-but-not-yet-handed-on items together stay within
    ``LOOKAHEAD * concurrency``.
    """

    def run(self) -> AsyncGenerator[Settled, None]:
        """Settle every item read; yields each as it completes."""
        return self._settle_all(collect=True)

    async def drain(self) -> None:
        """Settle every item read, handing nothing on (the report and ``on_settled`` see all)."""
        async for _ in self._settle_all(collect=False):
            pass  # nothing is collected: it yields nothing

    async def _settle_all(self, *, collect: bool) -> AsyncGenerator[Settled, None]:
        self._begin(collect=collect)
        try:
            while True:
                await self._turn()
                if outbox := self._outbox:
                    batch = outbox.copy()
                    outbox.clear()  # in place: the scheduler holds this list
                    for settled in batch:
                        yield settled
                    continue
                if self._done():
                    break
                await self._wait()
        except BaseException as exc:  # cancellation, aclose(), the source's own errors
            await self._shutdown(exc)
            raise
        await self._join()

    def _begin(self, *, collect: bool) -> None:
        self._ledger.collect = collect
        self._caller = asyncio.current_task()
        # Requests already delivered before the run are not ours to act on.
        self._cancels = 0 if self._caller is None else self._caller.cancelling()

    async def _turn(self) -> None:
        """One pass of the caller's task: take a pending cancel, read, put workers on work."""
        caller = self._caller
        if caller is not None and caller.cancelling() > self._cancels:
            # A cancel is pending (say, requested from a callback): take it
            # here, before reading or sending anything more.
            await asyncio.sleep(0)
            self._cancels = caller.cancelling()  # delivered and swallowed: carry on
        if self._fatal is not None:
            raise self._fatal
        self._fill()
        self._dispatch()

    def _done(self) -> bool:
        return not self._outbox and self._drained()

    async def _wait(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    async def _shutdown(self, exc: BaseException) -> None:
        """Stop reading and sending; give in-flight requests ``cancel_grace`` s, then cancel."""
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            self._report.cancelled = True
        self._stopping = True
        reader = self._reader
        if reader is not None:
            reader.cancel()  # the source's own cleanup runs in that task
        for index in sorted(self._queued):
            self._settle(self._queued.pop(index), "not_attempted", None, None)
        self._ready.clear()
        self._finish()  # parked workers leave
        in_flight = list(self._busy)
        waiting: list[asyncio.Future[None]] = [*in_flight, *([reader] if reader else [])]
        cancelled_again = False
        if in_flight:
            logger.info("bulk: waiting up to %.1fs for %d in flight", self._grace, len(in_flight))
            try:
                await asyncio.wait(waiting, timeout=self._grace)
            except asyncio.CancelledError:
                cancelled_again = True  # a second Ctrl-C: stop waiting
            for worker in list(self._busy):
                worker.cancel()  # it settles its op as cut off
        while pending := [t for t in (*self._workers, *waiting) if not t.done()]:
            try:
                # Cancelled tasks finish within a loop turn or two; wait for
                # them so the report says which ones were cut off.
                await asyncio.wait(pending)
            except asyncio.CancelledError:
                cancelled_again = True
        if cancelled_again:
            raise asyncio.CancelledError

    async def _join(self) -> None:
        """Let the workers that have just been told to leave finish."""
        self._finish()
        if pending := [t for t in self._workers if not t.done()]:
            await asyncio.wait(pending)
