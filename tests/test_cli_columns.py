"""Real exports in ``contacts sync``: extra columns, other encodings, spreadsheet-safe files."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from billabex_async.cli._cells import escape_cell, unescape_cell
from billabex_async.cli._failures import write_failures
from billabex_async.cli._rows import InputError, read_rows
from billabex_async.testing import FakeBillabex
from tests._cli_run import billabex, write_csv


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=17) as fake:
        yield fake


async def test_unknown_columns_are_ignored_with_one_warning_naming_them(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    header = ["full_name", "language", "email", "crm_id", "Phone Number"]
    names = ["Ada Lovelace", "Bob Marley", "Chloé Zhao", "Dora Maar", "Emil Nolde"]
    rows = [[name, "en", f"p{i}@example.org", f"CRM-{i}", "555"] for i, name in enumerate(names)]
    source = write_csv(tmp_path / "export.csv", header, *rows)
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert run.code == 0, run.err
    assert run.err.count("warning") == 1  # once for the file, not once per row
    assert "'crm_id', 'Phone Number'" in run.err
    assert len(fake.contacts(fake.account_id)) == 5
    strict = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--strict-columns"
    )
    assert strict.code == 2
    assert "export.csv:1: unknown column(s) 'crm_id', 'Phone Number'" in strict.err
    assert "nothing was sent" in strict.err


async def test_unknown_json_keys_are_named_once_across_the_file(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = tmp_path / "export.jsonl"
    lines = [
        {"fullName": "Dora Maar", "language": "fr", "crmId": 1},
        {"fullName": "Emil Nolde", "language": "de", "crmId": 2, "tags": ["a"]},
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert run.code == 0, run.err
    assert run.err.count("warning") == 1
    assert "key(s) 'crmId', 'tags'" in run.err
    strict = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--strict-columns"
    )
    assert strict.code == 2
    assert "export.jsonl:1:" in strict.err
    assert "export.jsonl:2:" in strict.err


def test_ignored_columns_are_read_and_kept_in_the_failures_file(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("full_name,crm_id,language\nAda Lovelace,CRM-1,en\n", encoding="utf-8")
    rows = read_rows(source)
    assert rows.ignored == ("crm_id",)
    (row,) = rows.rows
    assert row.item.full_name == "Ada Lovelace"
    retry = tmp_path / "c.failures.csv"
    write_failures(rows, [(row, "PUT -> 503")], retry)
    with retry.open(newline="", encoding="utf-8") as handle:
        (kept,) = csv.DictReader(handle)
    assert kept["crm_id"] == "CRM-1"
    with pytest.raises(InputError, match="unknown column"):
        read_rows(source, strict_columns=True)


def test_a_misspelt_field_column_is_refused_not_dropped(tmp_path: Path) -> None:
    typo = tmp_path / "c.csv"
    typo.write_text("full_name,language,emial\nAda Lovelace,en,ada@example.org\n", "utf-8")
    with pytest.raises(InputError, match="'emial' looks like a misspelling of email"):
        read_rows(typo)
    both = tmp_path / "d.csv"  # an email column is there: the other one is just extra
    both.write_text("full_name,language,email,emails\nAda Lovelace,en,a@example.org,x\n", "utf-8")
    assert read_rows(both).ignored == ("emails",)


def test_a_file_that_is_not_utf8_names_the_line_and_the_way_out(tmp_path: Path) -> None:
    source = tmp_path / "latin.csv"
    source.write_bytes("full_name,language\nAda Lovelace,en\nAndré Breton,fr\n".encode("cp1252"))
    with pytest.raises(InputError) as caught:
        read_rows(source)
    ((line, why),) = caught.value.problems
    assert line == 3
    assert "byte 0xe9" in why
    assert "UTF-8" in why
    assert "--encoding" in why
    rows = read_rows(source, encoding="cp1252")
    assert [r.item.full_name for r in rows.each()] == ["Ada Lovelace", "André Breton"]


async def test_the_encoding_option_reads_an_older_export(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = tmp_path / "latin.csv"
    source.write_bytes("full_name,language\nAndré Breton,fr\n".encode("cp1252"))
    refused = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert refused.code == 2
    assert "latin.csv:2:" in refused.err
    assert "--encoding" in refused.err
    run = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--encoding", "cp1252"
    )
    assert run.code == 0, run.err
    assert [c.full_name for c in fake.contacts(fake.account_id)] == ["André Breton"]
    unknown = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--encoding", "klingon"
    )
    assert unknown.code == 2
    assert "unknown encoding 'klingon'" in unknown.err


def test_a_refused_is_primary_shows_the_value(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("full_name,language,is_primary\nAda Lovelace,en,maybe\n", "utf-8")
    with pytest.raises(InputError, match=r"c\.csv:2: is_primary must be .*, got 'maybe'"):
        read_rows(source)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+33 1 23", "'+33 1 23"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # a quote already there gets another: the rule is undone exactly
        ("Ada Lovelace", "Ada Lovelace"),
        ("a=b", "a=b"),
    ],
)
def test_spreadsheet_cells_are_quoted_and_read_back(cell: str, written: str) -> None:
    assert escape_cell(cell) == written
    assert unescape_cell(written) == cell


def test_the_failures_csv_cannot_run_formulas_and_syncs_back_the_same_rows(
    tmp_path: Path,
) -> None:
    source = tmp_path / "c.csv"
    names = ['=HYPERLINK("http://evil.example","x")', "+Plus Person", "@At Person", "-Dash"]
    write_csv(source, ["full_name", "language", "notes"], *[[n, "en", "=1+1"] for n in names])
    rows = read_rows(source)
    retry = tmp_path / "c.failures.csv"
    write_failures(rows, [(row, "=cmd|' /C calc'!A0") for row in rows.each()], retry)
    with retry.open(newline="", encoding="utf-8") as handle:
        cells = [cell for record in csv.reader(handle) for cell in record][4:]  # after header
    assert cells
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    again = read_rows(retry)
    assert [r.item.full_name for r in again.each()] == names
    assert {r.item.notes for r in again.each()} == {"=1+1"}
