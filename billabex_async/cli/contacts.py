"""CLI layer: ``billabex contacts``: list, get, upsert, delete and sync one account's contacts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from billabex_async._types import UNSET
from billabex_async.cli._consent import stdin_is_terminal
from billabex_async.cli._failures import FailuresPathError, check_failures_path
from billabex_async.cli._listing import OUTPUTS, Listing, Output, echo_contact
from billabex_async.cli._records import encoding_name
from billabex_async.cli._render import err
from billabex_async.cli._rows import InputError, Rows, read_rows
from billabex_async.cli._run import run_async
from billabex_async.cli._settings import EXIT_OK, EXIT_USAGE, Settings, parse_uuid
from billabex_async.cli._sync import SyncOptions, run_sync
from billabex_async.cli._text import label, plain

__all__ = ["contacts"]


@click.group()
def contacts() -> None:
    """List, get, upsert, delete and sync an account's contacts."""


@contacts.command("list")
@click.argument("account", callback=parse_uuid)
@click.option(
    "--output",
    "-o",
    type=click.Choice(OUTPUTS),
    default=None,
    help="table (default), json (one object per line, wire format) or csv (what sync reads).",
)
@click.option("--json", "as_json", is_flag=True, hidden=True, help="Same as --output json.")
@click.pass_obj
def list_cmd(settings: Settings, account: str, output: Output | None, as_json: bool) -> None:
    """Print every contact of ACCOUNT.

    Piped or redirected, the table is never wrapped or cut: every id is whole.
    """
    if as_json and output not in (None, "json"):
        raise click.UsageError("--json is --output json: pass one of them")
    listing = Listing("json" if as_json else output or "table")

    async def run() -> int:
        async with settings.client() as client:
            async for contact in client.contacts.iterate(account):
                listing.add(contact)
        listing.finish()
        return EXIT_OK

    run_async(run)


@contacts.command("get")
@click.argument("account", callback=parse_uuid)
@click.argument("contact_id", callback=parse_uuid)
@click.pass_obj
def get_cmd(settings: Settings, account: str, contact_id: str) -> None:
    """Print one contact of ACCOUNT as JSON (wire format)."""

    async def run() -> int:
        async with settings.client() as client:
            contact = await client.contacts.get(account, contact_id)
        echo_contact(contact)
        return EXIT_OK

    run_async(run)


@contacts.command("upsert")
@click.argument("account", callback=parse_uuid)
@click.option("--full-name", required=True)
@click.option("--language", required=True, help="ISO 639-1 code: en, fr, de...")
@click.option("--email")
@click.option("--role")
@click.option("--notes")
@click.option("--primary/--not-primary", default=None, help="Mark as the account's main contact.")
@click.pass_obj
def upsert_cmd(
    settings: Settings,
    account: str,
    full_name: str,
    language: str,
    email: str | None,
    role: str | None,
    notes: str | None,
    primary: bool | None,
) -> None:
    """Create a contact, or update the one Billabex matches (email, then name)."""

    async def run() -> int:
        async with settings.client() as client:
            contact = await client.contacts.upsert(
                account,
                full_name=full_name,
                language=language,
                email=email,
                role=UNSET if role is None else role,
                notes=UNSET if notes is None else notes,
                is_primary=UNSET if primary is None else primary,
            )
        echo_contact(contact)
        return EXIT_OK

    run_async(run)


@contacts.command("delete")
@click.argument("account", callback=parse_uuid)
@click.argument("contact_id", callback=parse_uuid)
@click.pass_obj
def delete_cmd(settings: Settings, account: str, contact_id: str) -> None:
    """Delete one contact of ACCOUNT."""

    async def run() -> int:
        async with settings.client() as client:
            await client.contacts.delete(account, contact_id)
        err.print(f"deleted {contact_id}")
        return EXIT_OK

    run_async(run)


def _encoding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return encoding_name(value)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {value!r}") from None


@contacts.command("sync")
@click.argument("account", callback=parse_uuid)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only show what would change (reads only).")
@click.option("--delete-missing", is_flag=True, help="Delete contacts the file does not list.")
@click.option("--yes", "-y", is_flag=True, help="Delete without asking (needed without a TTY).")
@click.option(
    "--max-deletes",
    type=click.IntRange(0),
    help="The most contacts this run may delete (default: 5 or 10% of the account).",
)
@click.option(
    "--max-delete-share",
    type=click.FloatRange(0.0, 1.0),
    help="The largest share of the listed contacts this run may delete (0 to 1).",
)
@click.option(
    "--allow-empty-account",
    is_flag=True,
    help="Allow deleting every contact of the account (pauses its dunning follow-ups).",
)
@click.option(
    "--delete-after-failures",
    is_flag=True,
    help="Still delete after some rows failed (never after the run stopped early).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Writes in flight (default: adaptive, from the rate limit and the measured latency).",
)
@click.option(
    "--failures-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where failed rows go (default: FILE's name + .failures).",
)
@click.option(
    "--strict-columns",
    is_flag=True,
    help="Refuse columns/keys that are no contact field (default: ignore them, with a warning).",
)
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    callback=_encoding,
    help="FILE's text encoding, e.g. cp1252 or latin-1 for an older spreadsheet export.",
)
@click.pass_obj
def sync_cmd(
    settings: Settings,
    account: str,
    file: Path,
    dry_run: bool,
    delete_missing: bool,
    yes: bool,
    max_deletes: int | None,
    max_delete_share: float | None,
    allow_empty_account: bool,
    delete_after_failures: bool,
    concurrency: int | None,
    failures_file: Path | None,
    strict_columns: bool,
    encoding: str,
) -> None:
    """Make ACCOUNT's contacts match FILE (CSV, or JSON Lines: .jsonl/.ndjson).

    Columns/keys: full_name (or fullName), language, email; optional role,
    notes, is_primary; any other is ignored (named once, in a warning), or
    refused with --strict-columns. Only new and changed contacts are written. With
    --delete-missing the planned deletes are shown and confirmed first, and
    the guards refuse a run that would delete more than --max-deletes, or
    every contact of the account, before anything is written.
    """
    try:
        rows = read_rows(file, encoding=encoding, strict_columns=strict_columns)
    except InputError as exc:
        err.print(label("invalid input, nothing was sent:", exc, lines=True))
        sys.exit(EXIT_USAGE)
    if rows.ignored:
        what = "column(s)" if rows.format == "csv" else "key(s)"
        names = ", ".join(map(repr, rows.ignored))
        err.print(
            label("warning:", f"ignoring {what} {names}: no contact field", "yellow"),
            plain(" (kept in the failures file; --strict-columns refuses them)"),
            sep="",
        )
    target = failures_file or file.with_name(f"{file.stem}.failures{file.suffix}")
    refusal = _sync_refusal(
        rows,
        file,
        target,
        given=failures_file is not None,
        dry_run=dry_run,
        delete_missing=delete_missing,
        yes=yes,
    )
    if refusal is not None:
        err.print(plain(refusal, "red"), plain("; nothing was sent"), sep="")
        sys.exit(EXIT_USAGE)
    options = SyncOptions(
        dry_run,
        delete_missing,
        concurrency,
        target,
        assume_yes=yes,
        max_deletes=max_deletes,
        max_delete_share=max_delete_share,
        allow_empty_account=allow_empty_account,
        delete_after_failures=delete_after_failures,
    )
    run_async(lambda: run_sync(settings, account, rows, options))


def _sync_refusal(
    rows: Rows,
    file: Path,
    target: Path,
    *,
    given: bool,
    dry_run: bool,
    delete_missing: bool,
    yes: bool,
) -> str | None:
    """Why ``contacts sync`` must not start, checked before any request; None if it may."""
    if delete_missing and not rows.count:
        return "the file lists no contacts: refusing to delete every contact"
    if delete_missing and rows.is_failures_file:
        return (
            f"{file} is a failures file (it has a failure_reason column): it lists "
            "only the rows to retry, so --delete-missing would delete the others; "
            "retry it without --delete-missing"
        )
    if delete_missing and not dry_run and not yes and not stdin_is_terminal():
        return "--delete-missing asks before deleting, and stdin is no terminal: pass --yes"
    if dry_run:
        return None  # a dry run writes no failures file
    try:
        check_failures_path(target, file)
    except FailuresPathError as exc:
        return str(exc) + ("" if given else "; choose another with --failures-file")
    return None
