"""CLI layer: ask before a sync deletes: the planned deletes, a few names, a yes/no on the TTY."""

from __future__ import annotations

import asyncio
import sys

from rich.text import Text

from billabex_async.cli._render import err
from billabex_async.sync import SyncPlan

__all__ = ["confirm_deletes", "planned_deletes", "printable", "stdin_is_terminal"]

NAMES_SHOWN = 5


def printable(name: str) -> str:
    """``name`` with control characters (terminal escapes, newlines) shown as ``\\x..`` codes."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in name)


def stdin_is_terminal() -> bool:
    """Someone can answer a question (stdin may also be closed: None)."""
    return sys.stdin is not None and sys.stdin.isatty()


def planned_deletes(plan: SyncPlan) -> list[str]:
    """The names of the contacts the plan would delete (read-only ones are skipped, not listed)."""
    return [c.full_name for c in plan.changes if c.kind == "delete" and c.status == "planned"]


async def _read_line() -> str:
    """One line from stdin without blocking the loop, so Ctrl-C still cancels the wait."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sys.stdin.fileno()
    try:
        loop.add_reader(fd, readable)
    except NotImplementedError:  # a loop without add_reader: the answer blocks, as input() does
        return sys.stdin.readline()
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    return sys.stdin.readline()  # a TTY is readable once a whole line was typed (or at EOF)


async def confirm_deletes(plan: SyncPlan, source: str) -> bool:
    """Show what the plan deletes and ask on the terminal; True only for an explicit yes."""
    names = planned_deletes(plan)
    planned = plan.result()  # the plan's own counts of what it would write
    head = Text(f"This sync deletes {len(names)} contact(s) that {source} does not list:")
    err.print(head, style="bold yellow")
    for name in names[:NAMES_SHOWN]:
        err.print(Text(f"  {printable(name)}"))  # Text: names are never read as markup
    if len(names) > NAMES_SHOWN:
        err.print(Text(f"  ... and {len(names) - NAMES_SHOWN} more"))
    err.print(Text(f"It also creates {planned.created} and updates {planned.updated} contact(s)."))
    err.print(Text(f"Delete {len(names)} contact(s)? [y/N] "), end="")
    answer = await _read_line()
    return answer.strip().lower() in ("y", "yes")
