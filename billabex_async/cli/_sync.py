"""CLI layer: ``contacts sync``: list, plan, ask before deleting, write, report, save failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from billabex_async.cli._consent import (
    confirm_deletes,
    planned_deletes,
    printable,
    stdin_is_terminal,
)
from billabex_async.cli._failures import remove_previous, save_failures
from billabex_async.cli._render import (
    RequestCounter,
    SyncProgress,
    changes_table,
    err,
    out,
    summary_table,
)
from billabex_async.cli._rows import InputError, Row, Rows
from billabex_async.cli._run import saving_rows
from billabex_async.cli._settings import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Settings,
    token_hint,
)
from billabex_async.cli._text import label, plain
from billabex_async.sync import SyncPlan, SyncResult, apply_plan, plan_sync

__all__ = ["SyncOptions", "run_sync"]


@attrs.frozen
class SyncOptions:
    """What the command line asked for."""

    dry_run: bool
    delete_missing: bool
    concurrency: int | None
    """``--concurrency``; None: the library's adaptive default."""
    failures_path: Path
    assume_yes: bool
    """``--yes``: delete without asking."""
    max_deletes: int | None = None
    max_delete_share: float | None = None
    allow_empty_account: bool = False
    delete_after_failures: bool = False


# The library's refusals name its keywords; the command line has flags.
_FLAGS = {
    "max_deletes=": "--max-deletes ",
    "allow_empty_account=True": "--allow-empty-account",
    "delete_after_failures=True": "--delete-after-failures",
}


def refusal_text(message: str) -> str:
    """A guard's message, with the keyword that lifts it spelled as the CLI flag."""
    for keyword, flag in _FLAGS.items():
        message = message.replace(keyword, flag)
    return message


async def _consented(plan: SyncPlan, rows: Rows, options: SyncOptions) -> bool:
    if not planned_deletes(plan) or options.assume_yes:
        return True
    if not stdin_is_terminal():  # the command refuses this case before sending anything
        return False
    return await confirm_deletes(plan, printable(str(rows.path)))


async def run_sync(settings: Settings, account: str, rows: Rows, options: SyncOptions) -> int:
    counter = RequestCounter()
    started = time.monotonic()
    result = SyncResult(dry_run=options.dry_run)
    interrupted = declined = wrote = False
    desired = rows.items()  # streamed: the planner keeps what it needs of each row
    try:
        async with settings.client(counter) as client:
            with SyncProgress(err, client.limiter, counter) as progress:
                progress.phase("Listing", None)
                try:
                    plan = await plan_sync(
                        client.contacts,
                        account,
                        desired,
                        delete_missing=options.delete_missing,
                        max_deletes=options.max_deletes,
                        max_delete_share=options.max_delete_share,
                        allow_empty_account=options.allow_empty_account,
                        on_listed=progress.listed,
                    )
                except InputError as exc:  # the file changed after its check; no write yet
                    err.print(label("invalid input, nothing was written:", exc, lines=True))
                    return EXIT_USAGE
                if plan.refusals and not options.dry_run:
                    # Refused before the question: nothing to consent to.
                    for refusal in plan.refusals:
                        err.print(
                            plain(f"refused: {refusal_text(refusal.message)}; nothing was sent")
                        )
                    return EXIT_USAGE
                if options.dry_run:
                    result = plan.result()
                else:
                    with progress.paused():
                        declined = not await _consented(plan, rows, options)
                if not options.dry_run and not declined:
                    try:
                        remove_previous(options.failures_path)
                    except OSError as exc:
                        err.print(
                            plain(f"error: cannot remove {options.failures_path}: {exc.strerror}")
                        )
                        return EXIT_USAGE  # before any write
                    wrote = True
                    planned = plan.result()
                    progress.phase(
                        "Writing",
                        planned.created + planned.updated + planned.deleted,
                        count=_answered(plan, result),
                    )
                    await apply_plan(
                        client.contacts,
                        plan,
                        concurrency=options.concurrency,
                        on_progress=progress.update,
                        result=result,
                        delete_after_failures=options.delete_after_failures,
                    )
    except asyncio.CancelledError:
        # Ctrl-C, anywhere up to the session's close: the result holds what was
        # done; the writes in flight were let finish, or cut by a second Ctrl-C.
        interrupted = True
    if declined:
        err.print("not confirmed: nothing was written")
        return EXIT_FAILED
    elapsed = time.monotonic() - started
    with saving_rows():  # from here to the saved rows, Ctrl-C waits
        if options.dry_run and result.changes:
            out.print(changes_table(result.changes, title="Planned changes"))
        out.print(summary_table(result, counter, elapsed))
        for refusal in result.refusals:  # a dry run's: what the real run would refuse
            err.print(plain(f"would refuse: {refusal_text(refusal.message)}"))
        if result.deletes_skipped:
            reason = refusal_text(result.deletes_skipped_reason or "")
            err.print(plain(f"{result.deletes_skipped} delete(s) not sent: {reason}"))
        if result.error is not None:
            err.print(label("stopped early:", result.error))
            hint = token_hint(result.error)
            if hint is not None:
                err.print(hint)
        saved = _report_failures(rows, result, options.failures_path) if wrote else True
    if interrupted:
        err.print("[yellow]interrupted[/]: the summary shows what was done")
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok and saved else EXIT_FAILED


def _answered(plan: SyncPlan, result: SyncResult) -> Callable[[], int]:
    """The writes answered so far, as the summary counts them: created, updated, deleted, failed.

    Not the engine's settled count, which includes the writes a stopped run
    never sent; the rows refused while planning are failures but no writes.
    """
    refused = sum(1 for change in plan.changes if change.status == "failed")

    def count() -> int:
        failed = max(0, len(result.failed) - refused) + len(result.failed_deletes)
        return result.created + result.updated + result.deleted + failed

    return count


class _Retry:
    """The rows to retry with their reasons, streamed from the input file on each iteration."""

    __slots__ = ("_reasons", "_rows")

    def __init__(self, rows: Rows, reasons: dict[int, str]) -> None:
        self._rows = rows
        self._reasons = reasons  # row position -> why it is to retry

    def __iter__(self) -> Iterator[tuple[Row, str]]:
        left = len(self._reasons)
        for index, row in enumerate(self._rows.each()):
            reason = self._reasons.get(index)
            if reason is not None:
                yield row, reason
                left -= 1
                if not left:
                    return


def _report_failures(rows: Rows, result: SyncResult, path: Path) -> bool:
    """Save the rows to retry (failed or never sent), list the failed deletes; False if unsaved."""
    reasons: dict[int, str] = {}
    for change in result.changes:
        if change.index is None or change.status not in ("failed", "not_attempted"):
            continue
        reasons[change.index] = (
            str(change.error) if change.error else "not attempted (the run stopped)"
        )
    for change in result.failed_deletes:
        err.print(label("delete failed", f"{change.contact_id}: {change.error}"))
    if not reasons:
        return True
    try:
        where = save_failures(rows, _Retry(rows, reasons), path)
    except InputError as exc:  # the file changed during the run: its rows are not these any more
        err.print(label("cannot write the rows to retry:", exc, lines=True))
        for index in sorted(reasons):
            err.print(plain(f"row {index + 1}: {reasons[index]}"))
        return False
    if where is not None:
        err.print(
            plain(
                f"{len(reasons)} row(s) to retry written to {where} (with a failure_reason column)"
            )
        )
    return where == path
