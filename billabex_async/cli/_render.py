"""CLI layer: what the user sees: the consoles, request counting, progress, summary tables."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from billabex_async import RequestEvent
from billabex_async._ratelimit import Limiter, SlidingWindowLimiter
from billabex_async.cli._text import plain
from billabex_async.sync import SyncChange, SyncResult

__all__ = [
    "RequestCounter",
    "SyncProgress",
    "changes_table",
    "err",
    "out",
    "summary_table",
]

PREVIEW_ROWS = 20
# A pipe or a file has no width: a line as long as it needs (a Python int, not a buffer).
_UNBOUNDED = 1 << 30


def _console(*, stderr: bool) -> Console:
    """A console that wraps and cuts only for a terminal, which has a width to fit.

    Piped or redirected, a wrapped line splits a UUID in two and a cut table
    cell loses it: there, text and tables come out at their full width.
    Messages are soft-wrapped everywhere (the terminal folds them, a copied
    path or URL stays whole).
    """
    console = Console(stderr=stderr, soft_wrap=True)
    try:  # the stream itself: FORCE_COLOR makes rich call a pipe a terminal
        tty = console.file.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        tty = False
    if not tty:
        console.width = _UNBOUNDED
    return console


out = _console(stderr=False)  # results: tables, JSON
err = _console(stderr=True)  # progress, messages, logs


class RequestCounter:
    """``on_request`` hook: counts every attempt sent, the 429s, the last headroom seen."""

    __slots__ = ("rate_limited", "remaining", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.rate_limited = 0
        self.remaining: int | None = None

    def __call__(self, event: RequestEvent) -> None:
        self.requests += 1
        if event.status == 429:
            self.rate_limited += 1
        if event.rate_limit_remaining is not None:
            self.remaining = event.rate_limit_remaining


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("  -  /s" if speed is None else f"{speed:5.1f}/s", style="cyan")


class _HeadroomColumn(ProgressColumn):
    """How much of the rate-limit window is in use: ours when we hold it, else the server's."""

    def __init__(self, limiter: Limiter | None, counter: RequestCounter) -> None:
        super().__init__()
        self._limiter = limiter
        self._counter = counter

    def render(self, task: Task) -> Text:
        if isinstance(self._limiter, SlidingWindowLimiter):
            used, limit = self._limiter.used(), self._limiter.limit
            return Text(f"limit {used}/{limit}", style="magenta")
        if self._counter.remaining is not None:
            return Text(f"limit {self._counter.remaining} left", style="magenta")
        return Text("")


class SyncProgress:
    """The listing spinner then the write bar; plain milestones when stderr is no TTY.

    A phase may count from the result rather than from the SDK's callback: the
    callback counts a write that was never sent (the run stopped) as settled,
    the summary does not, and the two must end on the same numbers.
    """

    def __init__(self, console: Console, limiter: Limiter | None, counter: RequestCounter) -> None:
        self._console = console
        self._live = console.is_terminal
        # Fits 80 columns: what, how far, how fast, how long, how close to the limit.
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            _RateColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(compact=True),
            _HeadroomColumn(limiter, counter),
            console=console,
            disable=not self._live,
            refresh_per_second=8,
        )
        self._task: TaskID | None = None
        self._description = ""
        self._done = 0
        self._total: int | None = None
        self._count: Callable[[], int] | None = None
        self._last_note = time.monotonic()

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._settle()
        self._progress.stop()  # its last frame shows the settled count
        if not self._live and self._task is not None:
            self._note_end()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop redrawing the bar meanwhile (a question on the terminal), then resume."""
        self._progress.stop()
        try:
            yield
        finally:
            self._progress.start()

    def phase(
        self, description: str, total: int | None, *, count: Callable[[], int] | None = None
    ) -> None:
        """Start the next phase; the previous one leaves a one-line summary.

        ``count``, if given, is read at each update instead of the number passed.
        """
        if self._task is not None:
            self._settle()
            self._progress.remove_task(self._task)
            self._note_end()
        self._task = self._progress.add_task(description, total=total)
        self._description, self._done, self._total, self._count = description, 0, total, count
        if not self._live:
            self._console.print(f"{description}...", highlight=False)

    def update(self, done: int, total: int | None = None) -> None:
        """Set the current phase's count; also called from the SDK's callbacks."""
        assert self._task is not None
        done = self._count() if self._count is not None else done
        self._done = done
        total = self._total if self._count is not None else total
        self._progress.update(self._task, completed=done, total=total)
        now = time.monotonic()
        if not self._live and now - self._last_note >= 5.0 and done != total:
            self._last_note = now  # CI logs: a line every few seconds, not a bar
            self._console.print(f"  {done}" + (f"/{total}" if total is not None else ""))

    def listed(self, count: int) -> None:
        self.update(count)

    def _settle(self) -> None:
        """The phase's final count, as the summary will state it."""
        if self._count is not None:
            self.update(self._done)

    def _note_end(self) -> None:
        total = f"/{self._total}" if self._total is not None else ""
        self._console.print(f"{self._description}: {self._done}{total}", highlight=False)


def _fields(change: SyncChange) -> str:
    return ", ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in change.fields.items())


def changes_table(changes: list[SyncChange], *, title: str) -> Table:
    """The first ``PREVIEW_ROWS`` changes: kind, status, contact, fields."""
    table = Table(title=title, title_justify="left")
    for column in ("#", "kind", "status", "contact", "changes"):
        table.add_column(column, overflow="fold")
    for change in changes[:PREVIEW_ROWS]:
        where = str(change.index + 1) if change.index is not None else "-"
        who = change.full_name + (f" ({change.contact_id})" if change.contact_id else "")
        detail = change.reason or (str(change.error) if change.error else _fields(change))
        table.add_row(where, change.kind, change.status, plain(who), plain(detail))
    if len(changes) > PREVIEW_ROWS:
        table.caption = f"... and {len(changes) - PREVIEW_ROWS} more"
    return table


def summary_table(result: SyncResult, counter: RequestCounter, elapsed: float) -> Table:
    """Counts, requests and time, one line each."""
    verb = "would be " if result.dry_run else ""
    table = Table(title="Dry run: nothing was written" if result.dry_run else "Sync summary")
    table.add_column("", style="bold")
    table.add_column("count", justify="right")
    failed = len(result.failed) + len(result.failed_deletes)
    lines = [
        (f"{verb}created", result.created),
        (f"{verb}updated", result.updated),
        ("unchanged", result.unchanged),
        (f"{verb}deleted", result.deleted),
        ("kept (an upsert matched it)", result.kept),
        ("deletes withheld", result.deletes_skipped),
        ("skipped (read-only)", result.skipped),
        ("failed", failed),
        ("not attempted", result.not_attempted),
    ]
    for label, value in lines:
        if label.startswith(("kept", "deletes withheld")) and not value:
            continue  # only when the delete phase had something to say
        style = "red" if label in ("failed", "not attempted") and value else None
        table.add_row(label, str(value), style=style)
    table.add_row("requests sent", str(counter.requests))
    if counter.rate_limited:
        table.add_row("429 answers", str(counter.rate_limited), style="yellow")
    table.add_row("elapsed", f"{elapsed:.1f} s")
    return table
