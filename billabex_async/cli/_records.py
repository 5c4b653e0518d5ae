"""CLI layer: the records of a contacts file (CSV or JSON Lines) and what their columns mean.

A column or key that is no contact field (a CRM's ``crm_id``, a ``phone``)
is ignored and named once, in ``Problems.ignored``: real exports carry many.
Two cases are refused instead: every unknown column with ``strict``, and a
column that looks like a misspelling of a field the file lacks (``emial``
without ``email``), whose data would otherwise be dropped without a word.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import attrs

from billabex_async.cli._cells import unescape_cell

__all__ = [
    "DEFAULT_ENCODING",
    "FAILURE_COLUMN",
    "Problems",
    "Record",
    "csv_records",
    "decode_error",
    "encoding_name",
    "is_failure_column",
    "jsonl_records",
]

DEFAULT_ENCODING = "utf-8-sig"  # UTF-8, with or without the BOM spreadsheets write
FAILURE_COLUMN = "failure_reason"
# Accepted column/key spellings -> field. Lower-cased, spaces and dashes as "_".
_ALIASES = {
    "full_name": "full_name",
    "fullname": "full_name",
    "language": "language",
    "email": "email",
    "e_mail": "email",
    "role": "role",
    "notes": "notes",
    "is_primary": "is_primary",
    "isprimary": "is_primary",
}
# Read but not used: what `billabex contacts list` (--output json or csv) and failure files add.
_KNOWN_EXTRAS = {"id", "readonlyreason", "read_only_reason", "email_status", FAILURE_COLUMN}
_TYPO_CUTOFF = 0.8  # difflib ratio: 'emial' ~ 'email' (0.8), 'crm_id' ~ nothing

Record = tuple[int, dict[str, object], Mapping[str, object]]
"""Line where the record starts, its fields by name, the record as read."""


@attrs.define
class Problems:
    """What reading found: bad lines as ``(line, reason)``, and the columns it ignored."""

    strict: bool = False
    """Refuse unknown columns instead of ignoring them."""
    lines: list[tuple[int | None, str]] = attrs.field(factory=list)
    ignored: dict[str, None] = attrs.field(factory=dict)
    """Unknown columns or keys, in the order first seen (a dict as an ordered set)."""

    def add(self, line: int | None, why: str) -> None:
        self.lines.append((line, why))


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def is_failure_column(name: str) -> bool:
    """``name`` spells the ``failure_reason`` column a failures file adds (any case or dashes)."""
    return _key(name) == FAILURE_COLUMN


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(map(repr, names))


def _unknown(names: Iterable[str], problems: Problems, what: str) -> str | None:
    """Sort ``names`` into ignored ones; the reason to refuse the record, if any."""
    names = list(names)
    unknown = [n for n in names if _key(n) not in _ALIASES and _key(n) not in _KNOWN_EXTRAS]
    if not unknown:
        return None
    if problems.strict:
        known = ", ".join(sorted({*_ALIASES.values()}))
        return f"unknown {what}(s) {_quoted(unknown)} (--strict-columns); expected: {known}"
    present = {_ALIASES[_key(n)] for n in names if _key(n) in _ALIASES}
    missing = [alias for alias, field in _ALIASES.items() if field not in present]
    for name in unknown:
        close = difflib.get_close_matches(_key(name), missing, n=1, cutoff=_TYPO_CUTOFF)
        if close:
            field = _ALIASES[close[0]]
            return (
                f"{what} {name!r} looks like a misspelling of {field}, which the file lacks: "
                f"rename it {field!r} (an unknown {what} is otherwise ignored)"
            )
    problems.ignored.update(dict.fromkeys(unknown))
    return None


def csv_records(path: Path, encoding: str, problems: Problems) -> Iterator[Record]:
    """The rows of a CSV file after its header; a bad header stops at line 1."""
    with path.open(newline="", encoding=encoding) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        refusal = "no header" if not header else _unknown(header, problems, "column")
        if refusal is not None:
            problems.add(1, refusal)
            return
        line = reader.line_num
        for record in reader:
            start, line = line + 1, reader.line_num  # a quoted field may span lines
            if None in record:
                problems.add(start, "more fields than the header has columns")
                continue
            raw = {column: unescape_cell(value or "") for column, value in record.items()}
            fields: dict[str, object] = {}
            for column, value in raw.items():
                field = _ALIASES.get(_key(column))
                text = value.strip()
                if field is None:
                    continue
                if text:
                    fields[field] = text
                elif field == "email":
                    fields[field] = None  # an empty cell: no email
            yield start, fields, raw


def jsonl_records(path: Path, encoding: str, problems: Problems) -> Iterator[Record]:
    """The objects of a JSON Lines file, one a line; blank lines are skipped."""
    with path.open(encoding=encoding) as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.add(number, f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                problems.add(number, "each line must be a JSON object")
                continue
            refusal = _unknown(record, problems, "key")
            if refusal is not None:
                problems.add(number, refusal)
                continue
            fields = {_ALIASES[_key(k)]: v for k, v in record.items() if _key(k) in _ALIASES}
            yield number, fields, record


def encoding_name(name: str) -> str:
    """The codec to read a file with (UTF-8 also takes a BOM); LookupError if unknown."""
    codec = codecs.lookup(name).name
    return DEFAULT_ENCODING if codec in ("utf-8", "utf-8-sig") else codec


def decode_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> tuple[int | None, str]:
    """Where ``path`` stops being ``encoding`` text, and what to do about it."""
    decoder = codecs.getincrementaldecoder(encoding)()
    where: tuple[int | None, int] = (None, 0)
    bad = exc.object[exc.start : exc.start + 1]
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    decoder.decode(raw)
                except UnicodeDecodeError as found:
                    where, bad = (
                        (number, found.start + 1),
                        found.object[found.start : found.start + 1],
                    )
                    break
    except OSError:
        pass  # the line is unknown; the hint still helps
    line, column = where
    what = "UTF-8" if encoding == DEFAULT_ENCODING else encoding
    at = f" at column {column}" if line is not None else ""
    hint = (
        "save it as UTF-8, or name its encoding with --encoding (e.g. --encoding cp1252)"
        if encoding == DEFAULT_ENCODING
        else "check the file's encoding and pass it with --encoding"
    )
    return line, f"the file is not {what} text (byte 0x{bad.hex()}{at}): {hint}"
