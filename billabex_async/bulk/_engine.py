"""Bulk layer: the engine running writes with bounded look-ahead, concurrency and order."""

from __future__ import annotations

import asyncio
import heapq
import logging
import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from typing import Any, Generic, Literal, NamedTuple, TypeVar
from uuid import UUID

from billabex_async.bulk._adaptive import Adaptive
from billabex_async.bulk._conflicts import Op, Scope
from billabex_async.bulk._report import BulkFailure, BulkReport, Status
from billabex_async.errors import (
    AuthenticationError,
    AuthRefreshError,
    BillabexError,
    ClientClosedError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    WrongEventLoopError,
)
from billabex_async.models import Contact
from billabex_async.resources.contacts import write_body

__all__ = ["LOOKAHEAD", "Engine", "ProgressCallback", "Settled", "account_key"]

logger = logging.getLogger("billabex_async")

T = TypeVar("T")
ProgressCallback = Callable[[int, int | None], None]

LOOKAHEAD = 4
"""Items read ahead per unit of concurrency: room to route around conflicts, bounded memory."""

# Billabex's 403 for a connector-owned record; any other 403 is taken as the
# token or account being refused, which every later item would hit too.
READ_ONLY = re.compile(r"read.?only", re.IGNORECASE)


class Settled(NamedTuple):
    op: Op
    status: Status
    contact: Contact | None
    error: BaseException | None


def stop_level(op: Op, error: BaseException, scope: Scope) -> Literal["run", "account"] | None:
    """Whether ``error`` will fail every later item: of the run, of the account, or neither."""
    if isinstance(error, AuthenticationError | AuthRefreshError):
        return "run"
    if isinstance(error, ClientClosedError | WrongEventLoopError):
        return "run"  # nothing more can be sent through this client
    if isinstance(error, NotFoundError) and op.kind == "upsert":
        return "account"  # PUT .../upsert names no contact: the account is unknown
    if isinstance(error, PermissionDeniedError) and not scope.wrote:
        record_level = any(READ_ONLY.search(s or "") for s in (error.code, error.message))
        return None if record_level else "account"
    return None


class Engine(Generic[T]):
    """Runs ops with bounded look-ahead and concurrency, conflicting ones in input order.

    Each op waits for the unsettled earlier ops it conflicts with (same
    email, same contact id, or names within Billabex's fuzzy distance), so
    the server sees conflicting writes in the order a sequential loop sends
    them; the others run ``concurrency`` at a time.
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
        self._running: dict[asyncio.Future[Any], Op] = {}
        # Adaptive only: when each running op started, and whether a slot was free then.
        self._started: dict[asyncio.Future[Any], tuple[float, bool]] = {}
        self._pull: asyncio.Future[Any] | None = None
        # Every finished task and pull lands here (done callbacks): one await
        # wakes the loop, whatever finished, with no per-wait setup cost.
        self._wakeups: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()
        self._outbox: list[Settled] = []
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
        task = asyncio.current_task()
        try:
            while True:
                if task is not None and task.cancelling():
                    # A cancel is pending (say, requested from a callback):
                    # take it here, before reading or sending anything more.
                    await asyncio.sleep(0)
                self._fill()
                self._start_ready()
                if self._outbox:
                    batch, self._outbox = self._outbox, []
                    for settled in batch:
                        yield settled
                    continue
                if (self._exhausted or self._stopping) and not self._open_work():
                    return
                await self._wait()
        except BaseException as exc:  # cancellation, aclose(), the source's own errors
            await self._shutdown(exc)
            raise

    def _open_work(self) -> bool:
        return bool(self._queued or self._running or self._pull)

    def _fill(self) -> None:
        room = self._window - len(self._queued) - len(self._running)
        if self._stopping or self._exhausted or room <= 0:
            return
        if self._sync is not None:
            for _ in range(room):
                try:
                    raw = next(self._sync)
                except StopIteration:
                    self._exhausted = True
                    return
                self._admit(raw)
        elif self._pull is None and self._async is not None:
            self._pull = asyncio.ensure_future(anext(self._async))
            self._pull.add_done_callback(self._wakeups.put_nowait)

    def _admit(self, raw: T) -> None:
        if self._skip is not None and self._skip(self._next_index):
            self._skip_one(self._next_index)
            self._next_index += 1
            return
        op = self._make_op(self._next_index, raw)
        self._next_index += 1
        scope = self._scopes.get(op.account)
        if scope is None:
            scope = self._scopes[op.account] = Scope()
        if self._stopping or scope.stopped is not None:
            self._settle(
                op, "not_attempted", None, scope.stopped or self._report.error, release=False
            )
            return
        scope.admit(op)
        self._queued[op.index] = op
        if op.waits == 0:
            heapq.heappush(self._ready, (op.index, op))

    def _start_ready(self) -> None:
        while self._ready:
            op = self._ready[0][1]
            scope = self._scopes[op.account]
            if self._stopping or scope.stopped is not None:
                heapq.heappop(self._ready)
                del self._queued[op.index]
                self._settle(op, "not_attempted", None, scope.stopped or self._report.error)
                continue
            if len(self._running) >= self._concurrency:
                return
            heapq.heappop(self._ready)
            del self._queued[op.index]
            task = asyncio.get_running_loop().create_task(op.run())
            task.add_done_callback(self._wakeups.put_nowait)
            self._running[task] = op
            if (adaptive := self._adaptive) is not None:
                self._started[task] = (adaptive.now(), adaptive.slot_free())

    async def _wait(self) -> None:
        future = await self._wakeups.get()
        fatal = None
        while True:
            fatal = self._handle(future) or fatal
            try:
                future = self._wakeups.get_nowait()
            except asyncio.QueueEmpty:
                break
        if fatal is not None:
            raise fatal

    def _handle(self, future: asyncio.Future[Any]) -> BaseException | None:
        """Settle a finished task or pull; returns an error that must end the run."""
        if future is self._pull:
            self._pull = None
            if future.cancelled():
                return None
            exc = future.exception()
            if isinstance(exc, StopAsyncIteration):
                self._exhausted = True
                return None
            if exc is not None:
                return exc  # the caller's source failed: stop as a loop over it would
            self._admit(future.result())
            return None
        op = self._running.pop(future)
        started = self._started.pop(future, None)
        if future.cancelled():
            self._settle(op, "failed", None, interrupted(op))
            return None
        exc = future.exception()
        if exc is None:
            if started is not None and (adaptive := self._adaptive) is not None:
                adaptive.finished(adaptive.now() - started[0], clean=started[1])
                self._concurrency = adaptive.target
                self._window = adaptive.target * LOOKAHEAD
            self._scopes[op.account].wrote = True
            self._settle(op, "succeeded", future.result(), None)
            return None
        self._settle(op, "failed", None, exc)
        if not isinstance(exc, Exception):
            return exc  # KeyboardInterrupt and the like end the run
        if isinstance(exc, BillabexError):
            self._maybe_stop(op, exc)
        else:
            # Whatever one item raised, it fails that item only: the report
            # keeps the error, and the other items still run.
            logger.warning("bulk: item %d failed with %s", op.index, type(exc).__name__)
        return None

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
            self._stopping = True
            if self._pull is not None:
                self._pull.cancel()

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
        if status == "succeeded":
            report.succeeded += 1
        elif status == "failed":
            assert error is not None
            report.failed.append(
                BulkFailure(op.index, op.item, error, op.account, op.idempotency_key)
            )
        else:
            report.not_attempted += 1
        self._track_resume(op.index, done=status != "not_attempted")
        settled = Settled(op, status, contact, error)
        self._outbox.append(settled)
        self._settled += 1
        if self._on_settled is not None:
            self._on_settled(settled)
        self._progress()

    def _track_resume(self, index: int, *, done: bool) -> None:
        report, unsent = self._report, self._first_unsent
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
        waiting: list[asyncio.Future[Any]] = list(self._running)
        if self._pull is not None:
            pull, self._pull = self._pull, None
            if not pull.done():
                pull.cancel()  # the source's own cleanup runs in that task
                waiting.append(pull)
            elif not pull.cancelled() and pull.exception() is None:
                self._admit(pull.result())  # read before the stop: report it
        self._ready.clear()
        for index in sorted(self._queued):
            self._settle(self._queued.pop(index), "not_attempted", None, None)
        if not waiting:
            return
        logger.info("bulk: waiting up to %.1fs for %d in flight", self._grace, len(self._running))
        cancelled_again = False
        try:
            await asyncio.wait(waiting, timeout=self._grace)
        except asyncio.CancelledError:
            cancelled_again = True  # a second Ctrl-C: stop waiting
        for task in self._running:
            task.cancel()
        while pending := [t for t in self._running if not t.done()]:
            try:
                # Cancelled tasks finish within a loop turn or two; wait for
                # them so the report says which ones were cut off.
                await asyncio.wait(pending)
            except asyncio.CancelledError:
                cancelled_again = True
        for task in list(self._running):
            self._handle(task)  # an error it returns is already that item's failure
        if cancelled_again:
            raise asyncio.CancelledError


def interrupted(op: Op) -> OutcomeUnknownError:
    target = next(iter(op.ids), "?") if op.kind == "delete" else "upsert"
    return OutcomeUnknownError(
        "cancelled while in flight: it may or may not have been applied",
        method="DELETE" if op.kind == "delete" else "PUT",
        path=f"/accounts/{op.account}/contacts/{target}",
        idempotency_key=op.idempotency_key,
        body=None if op.kind == "delete" else write_body(op.item),
    )


def account_key(account_id: str | UUID) -> str:
    """The account id in canonical form: the key its conflicts and early stops go by."""
    try:
        return str(account_id if isinstance(account_id, UUID) else UUID(str(account_id)))
    except ValueError:
        return str(account_id)  # the upsert call rejects it, per item
