"""CLI layer: where ``contacts sync`` keeps the rows to retry: checked first, replaced whole.

The path is checked before anything is sent (its folder exists and takes a
new file; it is not the input). A run that writes removes the previous file
before its first write, and writes the new one atomically at the end, so the
file at that path always belongs to the last run that sent writes. If it
cannot be written after all, the rows go to a temporary folder, or to stdout.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from billabex_async.cli._cells import escape_cell
from billabex_async.cli._render import err
from billabex_async.cli._rows import FAILURE_COLUMN, Row, Rows, is_failure_column
from billabex_async.cli._text import clean

__all__ = [
    "FailuresPathError",
    "check_failures_path",
    "remove_previous",
    "save_failures",
    "write_failures",
    "write_records",
]


class FailuresPathError(Exception):
    """The failures file could not be written there; the message says why."""


def check_failures_path(path: Path, source: Path) -> None:
    """Raise FailuresPathError unless a failures file can replace ``path``; writes nothing lasting.

    Refused: the input file itself (under any spelling, link included), a
    folder, a path in a missing folder, a folder that takes no new file.
    """
    target = path.resolve()
    if target == source.resolve() or (path.exists() and os.path.samefile(path, source)):
        raise FailuresPathError(f"the failures file {path} is the input file: choose another path")
    if path.exists() and not path.is_file():
        raise FailuresPathError(f"the failures file {path} exists and is not a regular file")
    folder = target.parent
    if not folder.is_dir():
        raise FailuresPathError(f"the folder of the failures file {path} does not exist")
    # Create and remove a file there: the same operation the final write does,
    # so permissions, read-only mounts and ACLs all answer truthfully.
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{target.name}.", suffix=".check"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise FailuresPathError(f"cannot write the failures file {path}: {reason}") from None


def remove_previous(path: Path) -> None:
    """Remove an earlier run's failures file, lest it pass for this run's; OSError on failure."""
    path.unlink(missing_ok=True)


def save_failures(rows: Rows, retry: Iterable[tuple[Row, str]], path: Path) -> Path | None:
    """Write ``retry`` to ``path``; if that fails, to a new temporary folder; returns where.

    ``retry`` is iterated once per attempt, each row written as it comes: it
    may stream the rows from the input file rather than hold them.

    Returns None when neither could be written: the rows were then printed to
    stdout in the input's format, so they are never lost.
    """
    try:
        write_failures(rows, retry, path)
        return path
    except OSError as exc:
        err.print(
            f"error: cannot write {path}: {exc.strerror or exc}", markup=False, soft_wrap=True
        )
    with contextlib.suppress(OSError):
        fallback = Path(tempfile.mkdtemp(prefix="billabex-failures-")) / path.name
        write_failures(rows, retry, fallback)
        return fallback
    err.print(
        "error: no file could be written: the rows to retry follow on stdout",
        markup=False,
        soft_wrap=True,
    )
    write_records(rows, retry, sys.stdout)
    sys.stdout.flush()
    return None


def write_failures(
    rows: Rows, failures: Iterable[tuple[Row, str]], path: Path
) -> int:  # fmt: skip
    """Write the failed rows as they were read, plus a ``failure_reason``; returns the count.

    The file has the input's format, so fixing it and passing it back to
    ``contacts sync`` retries exactly those rows. It is written to a temporary
    file in the same folder, then renamed over ``path``: a failure midway
    (``OSError``, raised) leaves any previous file at ``path`` untouched.
    The file holds names and emails, so it is readable by its owner only.
    """
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed or removed
        "w",
        newline="",
        encoding="utf-8",
        dir=path.parent,
        prefix=f".{path.name}.",
        suffix=".tmp",
        delete=False,
    )
    try:
        with handle:
            count = write_records(rows, failures, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise
    return count


def write_records(
    rows: Rows, failures: Iterable[tuple[Row, str]], handle: IO[str]
) -> int:  # fmt: skip
    """Write the rows and their reasons to an open text file, in the input's format.

    Every column of the input is kept, those ``contacts sync`` ignores too. A
    CSV cell a spreadsheet would run as a formula is quoted (``_cells``); the
    reader takes the quote off again.
    """
    count = 0
    if rows.format == "csv":
        columns = [c for c in rows.columns if not is_failure_column(c)]
        writer = csv.DictWriter(handle, [*columns, FAILURE_COLUMN], extrasaction="ignore")
        writer.writeheader()
        for row, reason in failures:
            record = {**row.raw, FAILURE_COLUMN: clean(reason)}
            writer.writerow({k: escape_cell(v) for k, v in record.items()})
            count += 1
    else:
        for row, reason in failures:
            record = {k: v for k, v in row.raw.items() if not is_failure_column(k)}
            record[FAILURE_COLUMN] = clean(reason)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
