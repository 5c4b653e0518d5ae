"""The CLI's file reader and failures writer, in-process."""

from __future__ import annotations

import json
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from billabex_async._types import UNSET
from billabex_async.cli import _sync
from billabex_async.cli._failures import (
    FailuresPathError,
    check_failures_path,
    save_failures,
    write_failures,
)
from billabex_async.cli._rows import InputError, Row, Rows, read_rows


def test_csv_header_spellings_empty_cells_and_booleans(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "\ufeffFull Name,Language,E-mail,isPrimary,notes\n"  # BOM, spaces, camelCase
        "Ada Lovelace,en,,yes,\n"
        '"Bob ""The"" Marley",fr,bob@example.org,0,"two\nlines"\n'
        "Cleo Laine,de,cleo@example.org,,\n",
        encoding="utf-8",
    )
    rows = read_rows(path)
    assert [r.line for r in rows.rows] == [2, 3, 5]  # the quoted field spans lines 3-4
    ada, bob, cleo = (r.item for r in rows.rows)
    assert ada.email is None
    assert ada.is_primary is True
    assert ada.notes is UNSET
    assert bob.full_name == 'Bob "The" Marley'
    assert bob.is_primary is False
    assert bob.notes == "two\nlines"
    assert cleo.is_primary is UNSET
    assert rows.columns == ["Full Name", "Language", "E-mail", "isPrimary", "notes"]


def test_jsonl_accepts_list_output_and_reports_every_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "c.ndjson"
    listed = {
        "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "fullName": "Ada Lovelace",
        "language": "en",
        "email": {"address": "ada@example.org", "status": "Bounced"},
        "readOnlyReason": None,
    }
    path.write_text(
        json.dumps(listed) + "\n\n" + '{"fullName": "X"\n' + "[1]\n" + '{"nom": "Y"}\n'
        '{"full_name": "Z Z", "language": "en", "is_primary": "maybe"}\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        read_rows(path)
    assert [line for line, _ in caught.value.problems] == [3, 4, 5, 6]
    path.write_text(json.dumps(listed) + "\n", encoding="utf-8")
    (row,) = read_rows(path).rows
    assert row.item.email == "ada@example.org"


def test_missing_required_fields_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("full_name,email\nAda Lovelace,ada@example.org\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"c\.csv:2: language is missing"):
        read_rows(path)


def test_failures_round_trip_in_the_input_format(tmp_path: Path) -> None:
    for name, text in [
        ("c.csv", "full_name,language,email\nAda Lovelace,en,ada@example.org\n"),
        ("c.jsonl", '{"fullName": "Ada Lovelace", "language": "en"}\n'),
    ]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        rows = read_rows(path)
        out = tmp_path / f"failures-{name}"
        failures: list[tuple[Row, str]] = [(rows.rows[0], "PUT -> 422 bad")]
        assert write_failures(rows, failures, out) == 1
        again = read_rows(out)
        assert again.rows[0].item == rows.rows[0].item
        assert "422" in out.read_text(encoding="utf-8")


def test_a_failures_file_is_recognised_by_its_reason_column(tmp_path: Path) -> None:
    plain = tmp_path / "c.csv"
    plain.write_text("full_name,language\nAda Lovelace,en\n", encoding="utf-8")
    assert not read_rows(plain).is_failures_file
    retry = tmp_path / "c.failures.csv"
    assert write_failures(read_rows(plain), [(read_rows(plain).rows[0], "503")], retry) == 1
    assert read_rows(retry).is_failures_file
    spelled = tmp_path / "d.jsonl"
    spelled.write_text('{"fullName": "A B", "language": "en", "Failure-Reason": "x"}\n', "utf-8")
    assert read_rows(spelled).is_failures_file


def _one_row(tmp_path: Path) -> tuple[Rows, Row]:
    source = tmp_path / "c.csv"
    source.write_text("full_name,language\nAda Lovelace,en\nBob Marley,fr\n", encoding="utf-8")
    rows = read_rows(source)
    return rows, rows.rows[0]


def test_a_failures_write_that_breaks_midway_leaves_the_previous_file_whole(
    tmp_path: Path,
) -> None:
    rows, row = _one_row(tmp_path)
    target = tmp_path / "c.failures.csv"
    target.write_text("the previous run's rows\n", encoding="utf-8")

    def breaking() -> Iterator[tuple[Row, str]]:
        yield row, "503"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_failures(rows, breaking(), target)
    assert target.read_text(encoding="utf-8") == "the previous run's rows\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "c.failures.csv"]
    assert write_failures(rows, [(row, "503")], target) == 1
    assert "Ada Lovelace" in target.read_text(encoding="utf-8")
    assert target.stat().st_mode & 0o077 == 0  # names and emails: the owner's only


def test_failed_rows_that_cannot_go_where_asked_are_kept_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, row = _one_row(tmp_path)
    gone = tmp_path / "removed-meanwhile" / "c.failures.csv"
    spare = tmp_path / "spare"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    where = save_failures(rows, [(row, "503")], gone)
    assert where is not None
    assert where.parent.parent == spare
    assert read_rows(where).rows[0].item == row.item
    assert str(gone) in capsys.readouterr().err
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-tmp-either"))
    assert save_failures(rows, [(row, "503")], gone) is None
    printed = capsys.readouterr()
    assert "Ada Lovelace" in printed.out  # the last resort: stdout, in the input's format
    assert "stdout" in printed.err


def test_the_failures_path_check(tmp_path: Path) -> None:
    rows, _ = _one_row(tmp_path)
    check_failures_path(tmp_path / "ok.csv", rows.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]  # the probe is gone
    for bad, why in [
        (rows.path, "is the input file"),
        (tmp_path / "missing" / "f.csv", "does not exist"),
        (rows.path / "f.csv", "does not exist"),
        (tmp_path, "not a regular file"),
    ]:
        with pytest.raises(FailuresPathError, match=why):
            check_failures_path(bad, rows.path)


def test_a_large_file_is_checked_and_read_again_without_being_held(tmp_path: Path) -> None:
    """The check keeps a count, not the rows; the sync's read streams them one at a time."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("full_name,language,email\n")
        for i in range(20_000):
            handle.write(f"Person Number{i},en,p{i}@example.org\n")
    tracemalloc.start()
    try:
        rows = read_rows(path)
        checked = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        seen = sum(1 for item in rows.items() if item.language == "en")
        streamed = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (rows.count, seen) == (20_000, 20_000)
    assert checked < 2_000_000  # held as a list: ~20 MB
    assert streamed < 2_000_000


def test_a_file_changed_after_its_check_is_refused_when_read_again(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("full_name,language\nAda Lovelace,en\nBob Marley,fr\n", encoding="utf-8")
    rows = read_rows(path)
    assert [r.item.full_name for r in rows.each()] == ["Ada Lovelace", "Bob Marley"]
    path.write_text("full_name,language\nBob Marley,fr\n", encoding="utf-8")
    with pytest.raises(InputError, match="changed while the command ran"):
        next(rows.each())


def test_the_rows_to_retry_are_streamed_from_the_input_in_file_order(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "full_name,language\n" + "".join(f"P Number{i},en\n" for i in range(10)), encoding="utf-8"
    )
    rows = read_rows(source)
    retry = _sync._Retry(rows, {7: "503", 2: "422"})
    target = tmp_path / "c.failures.csv"
    assert save_failures(rows, retry, target) == target
    written = read_rows(target).rows
    assert [r.item.full_name for r in written] == ["P Number2", "P Number7"]
    assert [r.raw["failure_reason"] for r in written] == ["422", "503"]
