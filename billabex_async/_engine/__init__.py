"""Engine layer: the concurrent, conflict-ordered writer shared by bulk and sync.

``engine_for`` builds the engine a bulk or sync run sends its writes with.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import TypeVar

from billabex_async._engine.adaptive import workers
from billabex_async._engine.conflicts import Op
from billabex_async._engine.engine import Engine
from billabex_async._engine.outcomes import Settled
from billabex_async._engine.report import BulkReport
from billabex_async._otel import count_items
from billabex_async._types import ProgressCallback

__all__ = ["DEFAULT_CANCEL_GRACE", "DEFAULT_CONCURRENCY", "engine_for"]

T = TypeVar("T")

DEFAULT_CONCURRENCY = 8
"""Writes in flight without a rate limit to follow; with one, the default adapts (``adaptive``)."""
DEFAULT_CANCEL_GRACE = 5.0
"""Seconds in-flight requests get to finish after a cancellation."""


def engine_for(
    contacts: object,
    source: Iterable[T] | AsyncIterable[T],
    make_op: Callable[[int, T], Op],
    *,
    concurrency: int | None,
    report: BulkReport,
    on_progress: ProgressCallback | None,
    cancel_grace: float,
    per_account: bool = False,
    on_settled: Callable[[Settled], None] | None = None,
    skip: Callable[[int], bool] | None = None,
) -> Engine[T]:
    """The engine for writes through ``contacts``: ``concurrency``, else adaptive to its limiter."""
    return Engine(
        source,
        make_op,
        concurrency=workers(contacts, concurrency, fixed=DEFAULT_CONCURRENCY),
        report=report,
        on_progress=on_progress,
        cancel_grace=cancel_grace,
        per_account=per_account,
        on_settled=count_items(contacts, on_settled),  # outcome metrics when telemetry is on
        skip=skip,
    )
