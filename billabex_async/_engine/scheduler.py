"""Engine layer: the scheduler that keeps ``concurrency`` workers fed with ready writes.

``concurrency`` worker tasks each take the earliest ready op, await it, settle
it and take the next: no task, future or queue entry per item. Reading,
conflict admission and settling happen inline in whichever task finished
something; the caller's side of a run (yielding, cancellation, shutdown) is
``Engine``'s.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sized
from typing import Generic, TypeVar

from billabex_async._engine.adaptive import Adaptive
from billabex_async._engine.conflicts import Op, Scope
from billabex_async._engine.ledger import Ledger
from billabex_async._engine.outcomes import Settled, interrupted, stops_run
from billabex_async._engine.report import BulkReport, Status
from billabex_async._types import ProgressCallback
from billabex_async.errors import BillabexError, InvalidRequestError
from billabex_async.models import Contact

__all__ = ["LOOKAHEAD", "Scheduler"]

logger = logging.getLogger("billabex_async")

T = TypeVar("T")

LOOKAHEAD = 4
"""Items read ahead per unit of concurrency: room to route around conflicts, bounded memory."""


class Scheduler(Generic[T]):
    """Reads ops, admits them past their conflicts, and runs the ready ones on workers."""

    def __init__(
        self,
        source: Iterable[T] | AsyncIterable[T],
        make_op: Callable[[int, T], Op],
        *,
        concurrency: int | Adaptive,
        report: BulkReport,
        on_progress: ProgressCallback | None,
        cancel_grace: float,
        per_account: bool,
        on_settled: Callable[[Settled], None] | None = None,
        skip: Callable[[int], bool] | None = None,
    ) -> None:
        self._adaptive: Adaptive | None = None
        if isinstance(concurrency, Adaptive):
            self._adaptive, concurrency = concurrency, concurrency.target
        elif isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidRequestError(
                f"concurrency must be an integer >= 1, got {concurrency!r}", field="concurrency"
            )
        self._sync: Iterator[T] | None = None
        self._async: AsyncIterator[T] | None = None
        if isinstance(source, AsyncIterable):
            self._async = aiter(source)
        else:
            self._sync = iter(source)
        self._make_op = make_op
        self._concurrency = concurrency
        self._window = concurrency * LOOKAHEAD
        total = len(source) if isinstance(source, Sized) else None
        self._ledger = Ledger(report, total, on_progress, on_settled, self._wake)
        # Bound once: both are on every item's path.
        self._record = self._ledger.record
        self._outbox = self._ledger.outbox  # settled, not yet handed on (emptied in place)
        self._report = report
        self._skip = skip  # indices a previous run finished: counted, not sent
        self._grace = cancel_grace
        self._per_account = per_account
        self._scopes: dict[str, Scope] = {}
        self._queued: dict[int, Op] = {}  # admitted, not started
        self._ready: list[tuple[int, Op]] = []  # heap by index: earliest first
        self._busy: dict[asyncio.Task[None], Op] = {}  # worker -> the op it awaits
        self._workers: set[asyncio.Task[None]] = set()
        self._idle: list[asyncio.Future[None]] = []  # one per parked worker
        self._reader: asyncio.Task[None] | None = None  # pulls an async source
        self._room: asyncio.Future[None] | None = None  # the reader waits for room
        self._waiter: asyncio.Future[None] | None = None  # the caller's task waits
        self._caller: asyncio.Task[object] | None = None
        self._cancels = 0  # the caller's cancellation requests when the run began
        self._fatal: BaseException | None = None  # ends the run in the caller's task
        self._next_index = 0
        self._exhausted = False
        self._stopping = False

    def _drained(self) -> bool:
        """Nothing left to read, start or wait for."""
        return (
            (self._exhausted or self._stopping)
            and not self._queued
            and not self._busy
            and self._reader is None
        )

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _cancel_pending(self) -> bool:
        caller = self._caller
        return caller is not None and caller.cancelling() > self._cancels

    def _fill(self) -> None:
        if self._stopping or self._exhausted:
            return
        room = self._window - len(self._queued) - len(self._busy) - len(self._outbox)
        if room <= 0:
            return
        if self._sync is not None:
            source = self._sync
            for _ in range(room):
                try:
                    raw = next(source)
                except StopIteration:
                    self._exhausted = True
                    return
                self._admit(raw)
        elif self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())
        elif (waiting := self._room) is not None:
            self._room = None
            if not waiting.done():
                waiting.set_result(None)

    def _free(self) -> int:
        """Items that may be read now: the window less those read and not yet handed on."""
        return self._window - len(self._queued) - len(self._busy) - len(self._outbox)

    async def _read(self) -> None:
        """Pull the async source while there is room (one task for the whole source)."""
        source = self._async
        assert source is not None
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                if self._free() <= 0:
                    room = self._room = loop.create_future()
                    await room
                    continue
                try:
                    raw = await anext(source)
                except StopAsyncIteration:
                    self._exhausted = True
                    return
                self._admit(raw)
                self._dispatch()
        except asyncio.CancelledError:
            if not self._stopping:
                self._fail(asyncio.CancelledError())  # the source cancelled itself
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's task
            self._fail(exc)  # the caller's source failed: stop as a loop over it would
        finally:
            self._reader = self._room = None
            if self._drained():
                self._finish()

    def _admit(self, raw: T) -> None:
        index = self._next_index
        self._next_index = index + 1
        if self._skip is not None and self._skip(index):
            self._ledger.skip(index)
            return
        op = self._make_op(index, raw)
        scope = self._scopes.get(op.account)
        if scope is None:
            scope = self._scopes[op.account] = Scope()
        if self._stopping or scope.stopped is not None:
            self._settle(
                op, "not_attempted", None, scope.stopped or self._report.error, release=False
            )
            return
        scope.admit(op)
        self._queued[index] = op
        if op.waits == 0:
            heapq.heappush(self._ready, (index, op))

    def _dispatch(self) -> None:
        """Wake parked workers, or start new ones, for the ready ops (one each)."""
        ready = len(self._ready)
        if not ready or self._cancel_pending():
            return
        idle = self._idle
        while idle and ready > 0:
            waiter = idle.pop()
            if not waiter.done():
                waiter.set_result(None)
                ready -= 1
        if ready > 0 and len(self._workers) < self._concurrency:
            loop = asyncio.get_running_loop()
            for _ in range(min(ready, self._concurrency - len(self._workers))):
                self._workers.add(loop.create_task(self._work()))

    def _take(self) -> Op | None:
        """The earliest ready op to send now, settling those a stop has cut off."""
        ready = self._ready
        while ready:
            op = ready[0][1]
            if self._stopping or self._scopes[op.account].stopped is not None:
                heapq.heappop(ready)
                del self._queued[op.index]
                stopped = self._scopes[op.account].stopped
                self._settle(op, "not_attempted", None, stopped or self._report.error)
                continue
            caller = self._caller  # ``_cancel_pending``, inline: once per item
            if caller is not None and caller.cancelling() > self._cancels:
                return None  # the caller is about to shut down: send nothing more
            heapq.heappop(ready)
            del self._queued[op.index]
            return op
        return None

    async def _work(self) -> None:
        """One worker: take, send and settle ops until the run has nothing left for it."""
        me = asyncio.current_task()
        assert me is not None
        loop = asyncio.get_running_loop()
        busy = self._busy
        try:
            while True:
                op = self._take()
                if op is None:
                    if self._stopping or self._drained():
                        return
                    parked = loop.create_future()
                    self._idle.append(parked)
                    await parked
                    continue
                if self._ready and (self._idle or len(self._workers) < self._concurrency):
                    self._dispatch()  # more ready than this worker can take
                busy[me] = op
                adaptive = self._adaptive
                started = (adaptive.now(), adaptive.slot_free()) if adaptive is not None else None
                try:
                    contact = await op.run()
                except asyncio.CancelledError:
                    del busy[me]
                    self._settle(op, "failed", None, interrupted(op))
                    if me.cancelling():
                        return  # cut off by the shutdown
                except BaseException as exc:  # noqa: BLE001 - it fails this item (or the run)
                    del busy[me]
                    self._failed(op, exc)
                else:
                    del busy[me]
                    if started is not None and adaptive is not None:
                        adaptive.finished(adaptive.now() - started[0], clean=started[1])
                        self._concurrency = adaptive.target
                        self._window = adaptive.target * LOOKAHEAD
                    self._scopes[op.account].wrote = True
                    self._settle(op, "succeeded", contact, None)
                    if len(self._workers) > self._concurrency:
                        # Fewer wanted in flight (the adaptive target fell): what
                        # this answer freed goes to a parked worker, not nowhere.
                        self._dispatch()
                        return
                self._fill()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the source or a callback failed: re-raised in the caller's task
            self._fail(exc)
        finally:
            self._workers.discard(me)
            if self._drained():
                self._finish()

    def _failed(self, op: Op, exc: BaseException) -> None:
        self._settle(op, "failed", None, exc)
        if not isinstance(exc, Exception):
            self._fail(exc)  # KeyboardInterrupt and the like end the run
        elif isinstance(exc, BillabexError):
            self._maybe_stop(op, exc)
        else:
            # Whatever one item raised, it fails that item only: the report
            # keeps the error, and the other items still run.
            logger.warning("bulk: item %d failed with %s", op.index, type(exc).__name__)

    def _fail(self, exc: BaseException) -> None:
        """End the run with ``exc``, raised in the caller's task."""
        if self._fatal is None:
            self._fatal = exc
        self._halt()

    def _halt(self) -> None:
        """Read and send nothing more; parked workers leave, the caller is woken."""
        self._stopping = True
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        self._finish()

    def _finish(self) -> None:
        self._wake()
        idle, self._idle = self._idle, []
        for parked in idle:
            if not parked.done():
                parked.set_result(None)

    def _maybe_stop(self, op: Op, error: BillabexError) -> None:
        scope = self._scopes[op.account]
        stops = stops_run(op, error, scope, self._report, per_account=self._per_account)
        if stops and not self._stopping:
            status, kind = getattr(error, "status", None), type(error).__name__
            logger.warning("bulk: stopping the run after a %s (%s)", status, kind)
            self._report.error = error
            self._halt()

    def _settle(
        self,
        op: Op,
        status: Status,
        contact: Contact | None,
        error: BaseException | None,
        *,
        release: bool = True,
    ) -> None:
        if release:
            for freed in self._scopes[op.account].release(op):
                heapq.heappush(self._ready, (freed.index, freed))
        self._record(op, status, contact, error)
