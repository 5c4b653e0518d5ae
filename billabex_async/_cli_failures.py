"""CLI layer: where ``contacts sync`` keeps the rows to retry: checked first, replaced whole.

The path is checked before anything is sent (its folder exists and takes a
new file; it is not the input). A run that writes removes the previous file
before its first write, and writes the new one atomically at the end, so the
file at that path always belongs to the last run that sent writes. If it
cannot be written after all, the rows go to a temporary folder, or to stdout.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from billabex_async._cli_common import err
from billabex_async._cli_input import Row, Rows, write_failures, write_records

__all__ = ["FailuresPathError", "check_failures_path", "remove_previous", "save_failures"]


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
