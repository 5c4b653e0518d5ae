"""CLI layer: read and check a contacts file (CSV or JSON Lines), streamed, row by row.

Every row is checked before anything is sent: one bad row stops the command
with the line number and the reason, and no request goes out. The file is
streamed, never held: one pass checks it, and the sync and the failures file
read it again, so a million-row file takes the memory of one row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import attrs

from billabex_async._types import UNSET, Unset
from billabex_async._validation import check_email, check_full_name, check_language
from billabex_async.errors import InvalidRequestError
from billabex_async.models import ContactUpsert

__all__ = ["FAILURE_COLUMN", "InputError", "Row", "Rows", "is_failure_column", "read_rows"]

Format = Literal["csv", "jsonl"]
MAX_ERRORS_SHOWN = 20
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
# Read but not used: what `billabex contacts list --json` and failure files add.
_IGNORED = {"id", "readonlyreason", "read_only_reason", FAILURE_COLUMN}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


class InputError(Exception):
    """The file cannot be used; ``problems`` are ``(line, reason)`` pairs."""

    def __init__(self, path: Path, problems: list[tuple[int | None, str]]) -> None:
        self.path = path
        self.problems = problems
        shown = [f"{path}:{line}: {why}" if line else f"{path}: {why}" for line, why in problems]
        if len(shown) > MAX_ERRORS_SHOWN:
            shown = [*shown[:MAX_ERRORS_SHOWN], f"... and {len(shown) - MAX_ERRORS_SHOWN} more"]
        super().__init__("\n".join(shown))


@attrs.frozen
class Row:
    """One contact read from the file: where it was, what it asks, the raw record."""

    line: int
    item: ContactUpsert
    raw: Mapping[str, object]


@attrs.frozen
class Rows:
    """A checked contacts file; its rows are read again, streamed, each time they are needed."""

    path: Path
    format: Format
    count: int
    """Rows in the file (at the check)."""
    columns: list[str]
    """CSV header as written in the file (for the failures file); empty for JSONL."""
    is_failures_file: bool = False
    """The file has the ``failure_reason`` column ``contacts sync`` writes: it lists
    only the rows an earlier run could not write, not everything the account should hold."""
    stamp: tuple[int, int] = (0, 0)
    """Size and modification time at the check: a later read of a changed file refuses."""

    def each(self) -> Iterator[Row]:
        """Every row, in file order; InputError if the file changed since it was checked."""
        if _stamp(self.path) != self.stamp:
            raise InputError(self.path, [(None, "the file changed while the command ran")])
        problems: list[tuple[int | None, str]] = []
        records = _csv_records if self.format == "csv" else _jsonl_records
        try:
            for line, fields, raw in records(self.path, problems):
                try:
                    row = Row(line, _contact(fields), raw)
                except InvalidRequestError as exc:
                    problems.append((line, str(exc)))
                if problems:  # valid at the check: the file changed, positions may have too
                    raise InputError(self.path, problems)
                yield row
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InputError(self.path, [(None, f"cannot read the file: {exc}")]) from exc
        if problems:
            raise InputError(self.path, problems)

    def items(self) -> Iterator[ContactUpsert]:
        """The upserts the rows ask for, in file order (streamed, as ``each``)."""
        return (row.item for row in self.each())

    @property
    def rows(self) -> list[Row]:
        """Every row, read into a list (small files only: ``each`` streams)."""
        return list(self.each())


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(path, [(None, f"cannot read the file: {exc.strerror}")]) from exc
    return stat.st_size, stat.st_mtime_ns


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def is_failure_column(name: str) -> bool:
    """``name`` spells the ``failure_reason`` column a failures file adds (any case or dashes)."""
    return _key(name) == FAILURE_COLUMN


def file_format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise InputError(path, [(None, "unsupported file type: use .csv, .jsonl or .ndjson")])


def _optional(value: object, field: str) -> str | Unset | None:
    if value is None or value is UNSET or isinstance(value, str):
        return value
    raise InvalidRequestError(f"{field} must be a string or null", field=field)


def _primary(value: object) -> bool | Unset | None:
    if value is None or value is UNSET or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise InvalidRequestError("is_primary must be true or false", field="is_primary")


def _contact(fields: Mapping[str, object]) -> ContactUpsert:
    """The upsert a record asks for; raises InvalidRequestError naming the bad field."""
    full_name = fields.get("full_name")
    language = fields.get("language")
    email = fields.get("email")
    if isinstance(email, Mapping):  # `contacts list --json` writes {"address", "status"}
        email = email.get("address")
    if full_name is None:
        raise InvalidRequestError("full_name is missing", field="full_name")
    if language is None:
        raise InvalidRequestError("language is missing", field="language")
    if not isinstance(full_name, str) or not isinstance(language, str):
        raise InvalidRequestError("full_name and language must be strings")
    if email is not None and not isinstance(email, str):
        raise InvalidRequestError("email must be a string or null", field="email")
    check_full_name(full_name)
    check_language(language)
    check_email(email)
    return ContactUpsert(
        full_name=full_name,
        language=language,
        email=email,
        role=_optional(fields.get("role", UNSET), "role"),
        notes=_optional(fields.get("notes", UNSET), "notes"),
        is_primary=_primary(fields.get("is_primary", UNSET)),
    )


def _csv_records(path: Path, problems: list[tuple[int | None, str]]) -> Iterator[
    tuple[int, dict[str, object], Mapping[str, object]]
]:  # fmt: skip
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        unknown = [h for h in header if _key(h) not in _ALIASES and _key(h) not in _IGNORED]
        if unknown or not header:
            known = ", ".join(sorted({*_ALIASES.values()}))
            why = f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "no header"
            problems.append((1, f"{why}; expected: {known}"))
            return
        line = reader.line_num
        for record in reader:
            start, line = line + 1, reader.line_num  # a quoted field may span lines
            if None in record:
                problems.append((start, "more fields than the header has columns"))
                continue
            fields: dict[str, object] = {}
            for column, value in record.items():
                field = _ALIASES.get(_key(column))
                text = (value or "").strip()
                if field is None:
                    continue
                if text:
                    fields[field] = text
                elif field == "email":
                    fields[field] = None  # an empty cell: no email
            yield start, fields, record


def _jsonl_records(path: Path, problems: list[tuple[int | None, str]]) -> Iterator[
    tuple[int, dict[str, object], Mapping[str, object]]
]:  # fmt: skip
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append((number, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(record, dict):
                problems.append((number, "each line must be a JSON object"))
                continue
            unknown = [k for k in record if _key(k) not in _ALIASES and _key(k) not in _IGNORED]
            if unknown:
                problems.append((number, f"unknown key(s) {', '.join(map(repr, unknown))}"))
                continue
            fields = {_ALIASES[_key(k)]: v for k, v in record.items() if _key(k) in _ALIASES}
            yield number, fields, record


def read_rows(path: Path) -> Rows:
    """Check every row of ``path``, streamed (none kept); InputError lists every bad line."""
    fmt = file_format(path)
    problems: list[tuple[int | None, str]] = []
    count = 0
    failures_file = False
    try:
        stamp = _stamp(path)
        records = _csv_records if fmt == "csv" else _jsonl_records
        for line, fields, raw in records(path, problems):
            failures_file = failures_file or any(map(is_failure_column, raw))
            try:
                _contact(fields)
                count += 1
            except InvalidRequestError as exc:
                problems.append((line, str(exc)))
        columns: list[str] = []
        if fmt == "csv":
            with path.open(newline="", encoding="utf-8-sig") as handle:
                columns = next(csv.reader(handle), [])
            failures_file = any(map(is_failure_column, columns))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, [(None, f"cannot read the file: {exc}")]) from exc
    if problems:
        raise InputError(path, problems)
    return Rows(path, fmt, count, columns, failures_file, stamp)
