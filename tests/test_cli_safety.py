"""``contacts sync`` on a careful user's worst day: failures file, deletes, refusals.

Each refusal is checked to happen before the simulator receives any request.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from billabex_async.testing import FakeBillabex
from tests._cli_run import HEADER, ROWS, Stderr, billabex, leftovers, start, write_csv


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=5) as fake:
        yield fake


def writes(fake: FakeBillabex) -> list[str]:
    return [r.method for r in fake.requests if r.method != "GET"]


async def test_a_failures_file_in_a_missing_folder_is_refused_before_anything_is_sent(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    missing = tmp_path / "no-such-folder" / "failed.csv"
    run = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--failures-file", str(missing)
    )
    assert run.code == 2, run.err
    assert "does not exist" in run.err
    assert "nothing was sent" in run.err
    assert "Traceback" not in run.err
    assert fake.stats.requests == 0


async def test_a_failures_file_where_no_file_can_be_made_is_refused(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    folder = tmp_path / "taken"
    folder.mkdir()
    for bad in (source / "failed.csv", folder):  # under a regular file; a folder itself
        run = await billabex(
            fake, "contacts", "sync", fake.account_id, str(source), "--failures-file", str(bad)
        )
        assert run.code == 2, run.err
        assert "failures-file" in run.err or "failures file" in run.err
    (tmp_path / "contacts.failures.csv").mkdir()  # where the default one would go
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert run.code == 2, run.err
    assert "not a regular file; choose another with --failures-file" in run.err
    if os.geteuid() != 0:  # root writes anywhere: the permission case needs a user
        folder.chmod(0o500)
        try:
            run = await billabex(
                fake, "contacts", "sync", fake.account_id, str(source),
                "--failures-file", str(folder / "failed.csv"),
            )  # fmt: skip
        finally:
            folder.chmod(0o700)
        assert run.code == 2, run.err
        assert "cannot write" in run.err
    assert fake.stats.requests == 0


async def test_the_input_file_is_refused_as_failures_file_under_any_spelling(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    before = source.read_bytes()
    link = tmp_path / "link.csv"
    link.symlink_to(source)
    spellings = [str(source), str(tmp_path / "." / "contacts.csv"), str(link)]
    for spelling in spellings:
        run = await billabex(
            fake, "contacts", "sync", fake.account_id, str(source), "--failures-file", spelling
        )
        assert run.code == 2, run.err
        assert "is the input file" in run.err
    assert source.read_bytes() == before
    assert fake.stats.requests == 0


async def test_delete_missing_on_a_failures_file_is_refused(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    for name in ("Ada Lovelace", "Bob Marley", "Chloé Zhao"):
        fake.add_contact(fake.account_id, full_name=name)
    failures = write_csv(
        tmp_path / "contacts.failures.csv",
        [*HEADER, "failure_reason"],
        [*ROWS[0], "PUT -> 503"],
    )
    jsonl = tmp_path / "contacts.failures.jsonl"
    record = {"fullName": "Ada Lovelace", "language": "en", "failure_reason": "PUT -> 503"}
    jsonl.write_text(json.dumps(record) + "\n", encoding="utf-8")
    for path in (failures, jsonl):
        run = await billabex(
            fake, "contacts", "sync", fake.account_id, str(path), "--delete-missing", "--yes"
        )
        assert run.code == 2, run.err
        assert "failures file" in run.err
        assert "without --delete-missing" in run.err
    assert fake.stats.requests == 0
    assert len(fake.contacts(fake.account_id)) == 3


async def test_delete_missing_without_a_terminal_needs_yes(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    fake.add_contact(fake.account_id, full_name="Old Timer", email="old@example.org")
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source), "--delete-missing")
    assert run.code == 2, run.err
    assert "--yes" in run.err
    assert fake.stats.requests == 0
    assert [c.full_name for c in fake.contacts(fake.account_id)] == ["Old Timer"]


async def test_yes_deletes_without_asking(fake: FakeBillabex, tmp_path: Path) -> None:
    fake.add_contact(fake.account_id, full_name="Old Timer", email="old@example.org")
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    run = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--delete-missing", "--yes"
    )
    assert run.code == 0, run.err
    assert "[y/N]" not in run.err
    names = {c.full_name for c in fake.contacts(fake.account_id)}
    assert names == {"Ada Lovelace", "Bob Marley", "Chloé Zhao"}


async def _sync_on_a_terminal(fake: FakeBillabex, source: Path, answer: bytes) -> tuple[int, str]:
    """Run ``sync --delete-missing`` with a pseudo-terminal as stdin; answer the question."""
    primary, secondary = os.openpty()
    try:
        process = await start(
            fake, "contacts", "sync", fake.account_id, str(source), "--delete-missing",
            stdin=secondary,
        )  # fmt: skip
        os.close(secondary)
        stderr = Stderr(process)
        await stderr.wait_for("[y/N]")
        assert writes(fake) == []  # asked before any write
        os.write(primary, answer)
        async with asyncio.timeout(30):
            _, rest = await process.communicate()
        assert process.returncode is not None
        return process.returncode, stderr.text + rest.decode()
    finally:
        os.close(primary)


async def test_on_a_terminal_the_deletes_are_shown_and_confirmed(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    fake.add_contact(fake.account_id, full_name="Old Timer", email="old@example.org")
    fake.add_contact(fake.account_id, full_name="Evil \x1b[31m[bold]Name[/bold]")
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    code, err = await _sync_on_a_terminal(fake, source, b"n\n")
    assert code == 1, err
    assert "deletes 2 contact(s)" in err
    assert "Old Timer" in err
    assert "Evil \\x1b[31m[bold]Name[/bold]" in err  # shown as typed, never interpreted
    assert "\x1b" not in err
    assert "nothing was written" in err
    assert writes(fake) == []
    code, err = await _sync_on_a_terminal(fake, source, b"y\n")
    assert code == 0, err
    names = {c.full_name for c in fake.contacts(fake.account_id)}
    assert names == {"Ada Lovelace", "Bob Marley", "Chloé Zhao"}


async def test_a_dry_run_never_asks(fake: FakeBillabex, tmp_path: Path) -> None:
    fake.add_contact(fake.account_id, full_name="Old Timer", email="old@example.org")
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    run = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--delete-missing", "--dry-run"
    )
    assert run.code == 0, run.err
    assert "[y/N]" not in run.err
    assert writes(fake) == []


async def test_a_run_that_writes_replaces_an_earlier_failures_file(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    stale = tmp_path / "contacts.failures.csv"
    stale.write_text("full_name,language,failure_reason\nOld Row,en,PUT -> 503\n", "utf-8")
    dry = await billabex(fake, "contacts", "sync", fake.account_id, str(source), "--dry-run")
    assert dry.code == 0, dry.err
    assert stale.exists()  # a dry run writes nothing, this file included
    fake.script(method="PUT", kind="status", status=422, times=1)
    failing = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--concurrency", "1"
    )
    assert failing.code == 1, failing.err
    with stale.open(newline="", encoding="utf-8") as handle:
        assert [row["full_name"] for row in csv.DictReader(handle)] == ["Ada Lovelace"]
    clean = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert clean.code == 0, clean.err
    assert not stale.exists()  # nothing failed: no file a re-run could take for current
    assert leftovers(tmp_path) == []
