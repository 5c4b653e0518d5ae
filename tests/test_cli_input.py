"""The CLI's file reader and failures writer, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billabex_async._cli_input import InputError, Row, read_rows, write_failures
from billabex_async._types import UNSET


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
