"""CLI layer: ``contacts sync``: list, plan, write with a progress bar, report, save failures."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from billabex_async._cli_common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Settings,
    err,
    out,
)
from billabex_async._cli_input import Row, Rows, write_failures
from billabex_async._cli_output import RequestCounter, SyncProgress, changes_table, summary_table
from billabex_async.sync import SyncResult, apply_plan, plan_sync

__all__ = ["run_sync"]


async def run_sync(
    settings: Settings,
    account: str,
    rows: Rows,
    dry_run: bool,
    delete_missing: bool,
    concurrency: int,
    failures_path: Path,
) -> int:
    counter = RequestCounter()
    started = time.monotonic()
    result = SyncResult(dry_run=dry_run)
    interrupted = False
    desired = [row.item for row in rows.rows]
    async with settings.client(counter) as client:
        with SyncProgress(err, client.limiter, counter) as progress:
            try:
                progress.phase("Listing", None)
                plan = await plan_sync(
                    client.contacts,
                    account,
                    desired,
                    delete_missing=delete_missing,
                    on_listed=progress.listed,
                )
                if dry_run:
                    result = plan.result()
                else:
                    writes = sum(1 for c in plan.changes if c.status == "planned")
                    progress.phase("Writing", writes)
                    await apply_plan(
                        client.contacts,
                        plan,
                        concurrency=concurrency,
                        on_progress=progress.update,
                        result=result,
                    )
            except asyncio.CancelledError:
                interrupted = True  # Ctrl-C: the writes in flight were let finish
    elapsed = time.monotonic() - started
    if dry_run and result.changes:
        out.print(changes_table(result.changes, title="Planned changes"))
    out.print(summary_table(result, counter, elapsed))
    if result.error is not None:
        err.print(f"[red]stopped early:[/] {result.error}", highlight=False)
    _report_failures(rows, result, failures_path)
    if interrupted:
        err.print("[yellow]interrupted[/]: the summary shows what was done")
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED


def _report_failures(rows: Rows, result: SyncResult, path: Path) -> None:
    """Write the rows to retry (failed or never sent) and list the failed deletes."""
    retry: list[tuple[Row, str]] = []
    for change in result.changes:
        if change.index is None or change.status not in ("failed", "not_attempted"):
            continue
        reason = str(change.error) if change.error else "not attempted (the run stopped)"
        retry.append((rows.rows[change.index], reason))
    if retry:
        count = write_failures(rows, sorted(retry, key=lambda r: r[0].line), path)
        err.print(f"{count} row(s) to retry written to {path} (with a failure_reason column)")
    for change in result.failed_deletes:
        err.print(f"[red]delete failed[/] {change.contact_id}: {change.error}", highlight=False)
