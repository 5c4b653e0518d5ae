"""The ``billabex`` CLI, run as a real subprocess against a FakeBillabex in the test's loop."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from billabex_async.testing import FakeBillabex
from tests._cli_run import HEADER, ROWS, billabex, write_csv


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=21) as fake:
        yield fake


async def test_sync_a_csv_file(fake: FakeBillabex, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert run.code == 0, run.err
    assert "Sync summary" in run.out
    assert "created" in run.out
    stored = {c.full_name: c for c in fake.contacts(fake.account_id)}
    assert set(stored) == {"Ada Lovelace", "Bob Marley", "Chloé Zhao"}
    assert stored["Ada Lovelace"].role == "CFO"
    assert stored["Ada Lovelace"].is_primary is True
    assert stored["Bob Marley"].email is None
    assert stored["Chloé Zhao"].is_primary is False
    again = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert again.code == 0
    assert [r.method for r in fake.requests].count("PUT") == 3  # nothing changed: no write


async def test_dry_run_shows_the_plan_and_sends_no_write(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    fake.add_contact(fake.account_id, full_name="Old Timer", email="old@example.org")
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    run = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--dry-run", "--delete-missing"
    )
    assert run.code == 0, run.err
    assert "Dry run" in run.out
    assert "Old Timer" in run.out
    assert "delete" in run.out
    assert {r.method for r in fake.requests} == {"GET"}


async def test_bad_rows_stop_everything_with_their_line_numbers(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(
        "full_name,language,email\n"
        "Ada Lovelace,en,ada@example.org\n"
        "Bob Marley,EN,bob@example.org\n"
        ",fr,\n"
        '"Multi\nLine",en,secret-not-an-address\n',
        encoding="utf-8",
    )
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert run.code == 2
    assert "nothing was sent" in run.err
    assert "bad.csv:3" in run.err
    assert "language" in run.err
    assert "bad.csv:4" in run.err
    assert "bad.csv:5" in run.err
    assert "secret-not-an-address" not in run.err  # contact data is not echoed
    assert fake.stats.requests == 0


async def test_unknown_columns_and_file_types_are_usage_errors(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    typo = write_csv(tmp_path / "typo.csv", ["full_name", "language", "emial"], ["A B", "en", ""])
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(typo))
    assert run.code == 2
    assert "'emial'" in run.err
    other = tmp_path / "contacts.xlsx"
    other.write_bytes(b"")
    assert (await billabex(fake, "contacts", "sync", fake.account_id, str(other))).code == 2
    assert fake.stats.requests == 0


async def test_json_lines_with_either_key_style(fake: FakeBillabex, tmp_path: Path) -> None:
    source = tmp_path / "contacts.jsonl"
    lines = [
        {"fullName": "Dora Maar", "language": "fr", "email": "dora@example.org", "isPrimary": True},
        {"full_name": "Emil Nolde", "language": "de", "email": None, "notes": "VIP"},
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert run.code == 0, run.err
    stored = {c.full_name: c for c in fake.contacts(fake.account_id)}
    assert stored["Dora Maar"].is_primary is True
    assert stored["Emil Nolde"].notes == "VIP"


async def test_failed_rows_go_to_a_file_that_can_be_synced_again(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    fake.script(method="PUT", kind="status", status=422, times=1)  # the first row's upsert
    run = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--concurrency", "1"
    )
    assert run.code == 1
    failures = tmp_path / "contacts.failures.csv"
    assert str(failures) in run.err
    with failures.open(newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["full_name"] == "Ada Lovelace"
    assert "422" in row["failure_reason"]
    retry = await billabex(fake, "contacts", "sync", fake.account_id, str(failures))
    assert retry.code == 0, retry.err
    assert len(fake.contacts(fake.account_id)) == 3


async def test_upsert_list_and_delete(fake: FakeBillabex) -> None:
    account = fake.account_id
    made = await billabex(
        fake, "contacts", "upsert", account, "--full-name", "Frida Kahlo", "--language", "es"
    )
    assert made.code == 0, made.err
    contact = json.loads(made.out)
    assert contact["fullName"] == "Frida Kahlo"
    listed = await billabex(fake, "contacts", "list", account, "--json")
    assert [json.loads(line)["id"] for line in listed.out.splitlines()] == [contact["id"]]
    table = await billabex(fake, "contacts", "list", account)
    assert "Frida Kahlo" in table.out
    gone = await billabex(fake, "contacts", "delete", account, contact["id"])
    assert gone.code == 0, gone.err
    assert fake.contacts(account) == []


async def test_usage_errors_exit_2(fake: FakeBillabex, tmp_path: Path) -> None:
    no_token = await billabex(fake, "contacts", "list", fake.account_id, with_token=False)
    assert no_token.code == 2
    assert "BILLABEX_TOKEN" in no_token.err
    assert (await billabex(fake, "contacts", "list", "not-a-uuid")).code == 2
    empty = write_csv(tmp_path / "empty.csv", HEADER)
    refused = await billabex(
        fake, "contacts", "sync", fake.account_id, str(empty), "--delete-missing"
    )
    assert refused.code == 2
    assert "refusing" in refused.err
    bad_field = await billabex(
        fake, "contacts", "upsert", fake.account_id, "--full-name", "X Y", "--language", "EN"
    )
    assert bad_field.code == 2
    assert fake.stats.requests == 0


async def test_api_errors_exit_1_without_a_traceback(fake: FakeBillabex) -> None:
    fake.revoke_token(fake.token)
    run = await billabex(fake, "contacts", "list", fake.account_id)
    assert run.code == 1
    assert "401" in run.err
    assert "Traceback" not in run.err
