"""Engine layer: the books of a run, where each settled write is counted and handed on.

The report's totals and failures, the point a re-run resumes from, the
progress callback, and the items waiting for the caller's task to yield them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from billabex_async._engine.op import Op
from billabex_async._engine.outcomes import Settled
from billabex_async._engine.report import BulkFailure, BulkReport, Status
from billabex_async._types import ProgressCallback
from billabex_async.models import Contact

__all__ = ["Ledger"]

logger = logging.getLogger("billabex_async")


class Ledger:
    """Counts settled writes into a ``BulkReport`` and hands them on."""

    __slots__ = (
        "_ahead",
        "_first_unsent",
        "_on_progress",
        "_on_settled",
        "_total",
        "_wake",
        "collect",
        "outbox",
        "report",
        "settled",
    )

    def __init__(
        self,
        report: BulkReport,
        total: int | None,
        on_progress: ProgressCallback | None,
        on_settled: Callable[[Settled], None] | None,
        wake: Callable[[], None],
    ) -> None:
        self.report = report
        self._total = total
        self._on_progress = on_progress
        self._on_settled = on_settled
        self._wake = wake  # the caller's task has something to yield
        self.collect = True  # keep Settled items for ``run`` to yield
        self.outbox: list[Settled] = []
        self.settled = 0
        # Done (sent) indices past report.resume_from, and the first index not
        # sent: a re-run must start at or before it, so nothing after it is kept.
        self._ahead: set[int] = set()
        self._first_unsent: int | None = None

    def record(
        self, op: Op, status: Status, contact: Contact | None, error: BaseException | None
    ) -> None:
        """Count one settled write, tell whoever listens, and keep it for ``run``."""
        report = self.report
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
        self.settled += 1
        if self.collect or self._on_settled is not None:  # else: nobody to tell, no object
            settled = Settled(op, status, contact, error)
            if self.collect:
                self.outbox.append(settled)
                self._wake()
            if self._on_settled is not None:
                self._on_settled(settled)
        if self._on_progress is not None:
            self.progress()

    def skip(self, index: int) -> None:
        """Count an item a previous run finished: done, not sent."""
        report = self.report
        report.total += 1
        report.succeeded += 1
        report.skipped += 1
        self._track_resume(index, done=True)
        self.settled += 1
        self.progress()

    def progress(self) -> None:
        if self._on_progress is not None:
            try:
                self._on_progress(self.settled, self._total)
            except Exception:
                logger.exception("bulk: on_progress raised; ignored")

    def _track_resume(self, index: int, *, done: bool) -> None:
        report, unsent = self.report, self._first_unsent
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
