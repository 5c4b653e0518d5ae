"""CLI layer: read and check a contacts file (CSV or JSON Lines), streamed, row by row.

Every row is checked before anything is sent: one bad row stops the command
with the line number and the reason, and no request goes out. The file is
streamed, never held: one pass checks it, and the sync and the failures file
read it again, so a million-row file takes the memory of one row. What the
columns mean, and which are ignored, is ``_records``' job.
"""

from __future__ import annotations

import csv
import reprlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import attrs

from billabex_async._types import UNSET, Unset
from billabex_async._validation import check_email, check_full_name, check_language
from billabex_async.cli._records import (
    DEFAULT_ENCODING,
    FAILURE_COLUMN,
    Problems,
    Record,
    csv_records,
    decode_error,
    is_failure_column,
    jsonl_records,
)
from billabex_async.errors import InvalidRequestError
from billabex_async.models import ContactUpsert

__all__ = ["FAILURE_COLUMN", "InputError", "Row", "Rows", "is_failure_column", "read_rows"]

Format = Literal["csv", "jsonl"]
MAX_ERRORS_SHOWN = 20
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
    encoding: str = DEFAULT_ENCODING
    ignored: tuple[str, ...] = ()
    """Columns (CSV) or keys (JSONL) that are no contact field: read, kept in the
    failures file, never sent."""

    def each(self) -> Iterator[Row]:
        """Every row, in file order; InputError if the file changed since it was checked."""
        if _stamp(self.path) != self.stamp:
            raise InputError(self.path, [(None, "the file changed while the command ran")])
        problems = Problems()
        with _reading(self.path, self.encoding):
            for line, fields, raw in _records(self.format, self.path, self.encoding, problems):
                try:
                    row = Row(line, _contact(fields), raw)
                except InvalidRequestError as exc:
                    problems.add(line, str(exc))
                if problems.lines:  # valid at the check: the file changed, positions may have too
                    raise InputError(self.path, problems.lines)
                yield row
        if problems.lines:
            raise InputError(self.path, problems.lines)

    def items(self) -> Iterator[ContactUpsert]:
        """The upserts the rows ask for, in file order (streamed, as ``each``)."""
        return (row.item for row in self.each())

    @property
    def rows(self) -> list[Row]:
        """Every row, read into a list (small files only: ``each`` streams)."""
        return list(self.each())


@contextmanager
def _reading(path: Path, encoding: str) -> Iterator[None]:
    """Turn the errors of reading ``path`` into an InputError that says what to do."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise InputError(path, [decode_error(path, encoding, exc)]) from exc
    except (OSError, csv.Error) as exc:
        raise InputError(path, [(None, f"cannot read the file: {exc}")]) from exc


def _records(fmt: Format, path: Path, encoding: str, problems: Problems) -> Iterator[Record]:
    return (csv_records if fmt == "csv" else jsonl_records)(path, encoding, problems)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(path, [(None, f"cannot read the file: {exc.strerror}")]) from exc
    return stat.st_size, stat.st_mtime_ns


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
    raise InvalidRequestError(
        f"is_primary must be true or false (yes/no, 1/0, or empty), got {reprlib.repr(value)}",
        field="is_primary",
    )


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


def read_rows(
    path: Path, *, encoding: str = DEFAULT_ENCODING, strict_columns: bool = False
) -> Rows:
    """Check every row of ``path``, streamed (none kept); InputError lists every bad line.

    Columns that are no contact field are ignored (``Rows.ignored`` names
    them), or refused with ``strict_columns``.
    """
    fmt = file_format(path)
    problems = Problems(strict=strict_columns)
    count = 0
    failures_file = False
    columns: list[str] = []
    stamp = _stamp(path)
    with _reading(path, encoding):
        for line, fields, raw in _records(fmt, path, encoding, problems):
            failures_file = failures_file or any(map(is_failure_column, raw))
            try:
                _contact(fields)
                count += 1
            except InvalidRequestError as exc:
                problems.add(line, str(exc))
        if fmt == "csv":
            with path.open(newline="", encoding=encoding) as handle:
                columns = next(csv.reader(handle), [])
            failures_file = any(map(is_failure_column, columns))
    if problems.lines:
        raise InputError(path, problems.lines)
    ignored = tuple(problems.ignored)
    return Rows(path, fmt, count, columns, failures_file, stamp, encoding, ignored)
