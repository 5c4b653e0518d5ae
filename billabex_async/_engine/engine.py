"""Engine layer: the engine running writes with bounded look-ahead, concurrency and order.

``concurrency`` worker tasks each take the earliest ready op, await it, settle
it and take the next: no task, future or queue entry per item. Reading,
conflict admission and settling happen inline in whichever task finished
something; the caller's task only wakes to hand settled items on (``run``), to
raise what ended the run, or once at the end (``drain``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from typing import Generic, TypeVar

from billabex_async._engine.adaptive import Adaptive
from billabex_async._engine.conflicts import Op, Scope
from billabex_async._engine.outcomes import Settled, account_key, interrupted, stop_level
from billabex_async._engine.report import BulkFailure, BulkReport, Status
from billabex_async._types import ProgressCallback
from billabex_async.errors import BillabexError, InvalidRequestError
from billabex_async.models import Contact

__all__ = ["LOOKAHEAD", "Engine", "ProgressCallback", "Settled", "account_key", "stop_level"]

logger = logging.getLogger("billabex_async")

T = TypeVar("T")

LOOKAHEAD = 4
"""Items read ahead per unit of concurrency: room to route around conflicts, bounded memory."""


class Engine(Generic[T]):
    """Runs ops with bounded look-ahead and concurrency, conflicting ones in input order.

    Each op waits for the unsettled earlier ops it conflicts with (same
    email, same contact id, or names within Billabex's fuzzy distance), so
    the server sees conflicting writes in the order a sequential loop sends
    them; the others run ``concurrency`` at a time. Read, unsettled and
    settled-but-not-yet-handed-on items together stay within
    ``LOOKAHEAD * concurrency``.
    """

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
        self._total = len(source) if isinstance(source, Sized) else None
        self._sync: Iterator[T] | None = None
        self._async: AsyncIterator[T] | None = None
        if isinstance(source, AsyncIterable):
            self._async = aiter(source)
        else:
            self._sync = iter(source)
        self._make_op = make_op
        self._concurrency = concurrency
        self._window = concurrency * LOOKAHEAD
        self._report = report
        self._on_progress = on_progress
        self._on_settled = on_settled
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
        self._collect = True  # keep Settled items for ``run`` to yield
        self._outbox: list[Settled] = []
        self._fatal: BaseException | None = None  # ends the run in the caller's task
        self._next_index = 0
        self._settled = 0
        # Done (sent) indices past report.resume_from, and the first index not
        # sent: a re-run must start at or before it, so nothing after it is kept.
        self._ahead: set[int] = set()
        self._first_unsent: int | None = None
        self._exhausted = False
        self._stopping = False

    async def run(self) -> AsyncGenerator[Settled, None]:
        """Settle every item read; yields each as it completes."""
        self._begin(collect=True)
        try:
            while True:
                await self._turn()
                if self._outbox:
                    batch, self._outbox = self._outbox, []
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

    async def drain(self) -> None:
        """Settle every item read, handing nothing on (the report and ``on_settled`` see all)."""
        self._begin(collect=False)
        try:
            while True:
                await self._turn()
                if self._done():
                    break
                await self._wait()
        except BaseException as exc:
            await self._shutdown(exc)
            raise
        await self._join()

    def _begin(self, *, collect: bool) -> None:
        self._collect = collect
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

    def _drained(self) -> bool:
        """Nothing left to read, start or wait for."""
        return (
            (self._exhausted or self._stopping)
            and not self._queued
            and not self._busy
            and self._reader is None
        )

    async def _wait(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

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

    async def _read(self) -> None:
        """Pull the async source while there is room (one task for the whole source)."""
        source = self._async
        assert source is not None
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                if self._window - len(self._queued) - len(self._busy) - len(self._outbox) <= 0:
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
            self._skip_one(index)
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
            if self._cancel_pending():
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
        level = stop_level(op, error, scope)
        if level is None or scope.stopped is not None:
            return
        status = getattr(error, "status", None)
        scope.stopped = error
        self._report.stopped_accounts[op.account] = error
        if level == "account" and self._per_account:
            logger.warning("bulk: giving up on account %s after a %s", op.account, status)
            return
        if not self._stopping:
            logger.warning("bulk: stopping the run after a %s (%s)", status, type(error).__name__)
            self._report.error = error
            self._halt()

    def _skip_one(self, index: int) -> None:
        report = self._report
        report.total += 1
        report.succeeded += 1
        report.skipped += 1
        self._track_resume(index, done=True)
        self._settled += 1
        self._progress()

    def _progress(self) -> None:
        if self._on_progress is not None:
            try:
                self._on_progress(self._settled, self._total)
            except Exception:
                logger.exception("bulk: on_progress raised; ignored")

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
        report = self._report
        report.total += 1
        index = op.index
        if status == "succeeded":
            report.succeeded += 1
            if index == report.resume_from and self._first_unsent is None and not self._ahead:
                report.resume_from = index + 1  # in order, nothing ahead: the common case
            else:
                self._track_resume(index, done=True)
        elif status == "failed":
            assert error is not None
            report.failed.append(BulkFailure(index, op.item, error, op.account, op.idempotency_key))
            self._track_resume(index, done=True)
        else:
            report.not_attempted += 1
            self._track_resume(index, done=False)
        self._settled += 1
        if self._collect or self._on_settled is not None:  # else: nobody to tell, no object
            settled = Settled(op, status, contact, error)
            if self._collect:
                self._outbox.append(settled)
                self._wake()
            if self._on_settled is not None:
                self._on_settled(settled)
        if self._on_progress is not None:
            self._progress()

    def _track_resume(self, index: int, *, done: bool) -> None:
        report, unsent = self._report, self._first_unsent
        if done and unsent is None and index == report.resume_from and not self._ahead:
            report.resume_from = index + 1  # in order, nothing ahead: the common case
            return
        if not done:
            if unsent is None or index < unsent:
                self._first_unsent = unsent = index
                self._ahead = {i for i in self._ahead if i < index}
        elif unsent is None or index < unsent:
            self._ahead.add(index)
        while report.resume_from in self._ahead:
            self._ahead.remove(report.resume_from)
            report.resume_from += 1

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
