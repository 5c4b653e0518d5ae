"""CLI layer: run a command's coroutine in its own loop; Ctrl-C stops it cleanly (exit 130)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from billabex_async.cli._render import err
from billabex_async.cli._settings import EXIT_INTERRUPTED, api_errors

__all__ = ["run_async", "saving_rows"]


class _Interrupts:
    """The SIGINT handler while a command runs.

    The first Ctrl-C cancels the command's task: it stops sending, lets the
    writes in flight finish (a few seconds at most), reports and exits 130.
    A second one cancels it again, which stops the writes in flight too (their
    rows are still saved); if the first never reached the task because the
    loop is busy, or at a third, KeyboardInterrupt is raised where the program
    is, and ``run_async`` exits 130. While rows are being saved
    (``saving_rows``) Ctrl-C waits. Once the command is over (the loop is
    closing, the interruption is being reported) it only makes the exit 130:
    raised there, it would escape the command and click would exit 1.
    """

    __slots__ = ("count", "delivered", "loop", "over", "pressed", "saving", "task")

    def __init__(self) -> None:
        self.pressed = 0  # every Ctrl-C: any one makes the exit code 130
        self.count = 0  # those that asked the command to stop
        self.over = False  # the command's loop has ended
        self.delivered = False  # the first cancel reached the loop: the loop is responsive
        self.saving = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[int] | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        task, loop = self.task, self.loop
        self.pressed += 1
        if self.over or (task is not None and task.done()):
            return  # nothing left to stop; the exit code says it was interrupted
        if task is None or loop is None:
            raise KeyboardInterrupt  # the command has not started: nothing to wind down
        # os.write, not print: a handler may run in the middle of another write.
        if self.saving:
            os.write(2, b"\nsaving the rows to retry first\n")
            return
        self.count += 1
        if self.count == 1:
            loop.call_soon_threadsafe(self._cancel)
            os.write(2, b"\nstopping (Ctrl-C again to stop at once)\n")
        elif self.count == 2 and self.delivered:
            loop.call_soon_threadsafe(task.cancel)
        else:
            raise KeyboardInterrupt

    def _cancel(self) -> None:
        self.delivered = True
        if self.task is not None:
            self.task.cancel()


_active: _Interrupts | None = None


@contextmanager
def saving_rows() -> Iterator[None]:
    """Hold Ctrl-C off meanwhile: writing the rows to retry must not be cut short."""
    interrupts = _active
    if interrupts is None:
        yield
        return
    interrupts.saving = True
    try:
        yield
    finally:
        interrupts.saving = False


def run_async(coro: Callable[[], Awaitable[int]]) -> None:
    """Run a command's coroutine in a fresh loop and exit with the code it returns.

    Ctrl-C exits 130 (see ``_Interrupts``), an SDK error 1 or 2 with its
    message (see ``api_errors``), never with a traceback.
    """
    with api_errors():
        _run(coro)


def _run(coro: Callable[[], Awaitable[int]]) -> None:
    global _active
    interrupts = _active = _Interrupts()

    async def main() -> int:
        interrupts.loop, interrupts.task = asyncio.get_running_loop(), asyncio.current_task()
        return await coro()

    handle = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupts) if handle else None
    try:
        try:
            code = asyncio.run(main())
        finally:
            interrupts.over = True
    except (KeyboardInterrupt, asyncio.CancelledError):  # a command that let the cancel through
        err.print("interrupted", style="yellow")
        code = EXIT_INTERRUPTED
    finally:
        _active = None
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    sys.exit(EXIT_INTERRUPTED if interrupts.pressed else code)
