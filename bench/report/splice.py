"""Report: one ``## `` part of bench/results.md replaced, the rest of the file kept as it is."""

from __future__ import annotations

__all__ = ["PERF_HEADING", "splice"]

PERF_HEADING = "## Performance at scale"
"""The part the performance sections write (``python -m bench --only perf``)."""


def splice(document: str, section: str, heading: str = PERF_HEADING) -> str:
    """``document`` with ``heading``'s content replaced by ``section`` (appended if absent).

    Only the lines from the heading to the next ``## `` heading change.
    """
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        head = document.rstrip("\n")
        return f"{head}\n\n{section}" if head else section
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
        len(lines),
    )
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")
