"""CLI layer: what every command shares: settings, consoles, exit codes, error mapping."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import attrs
import click
from rich.console import Console
from rich.markup import escape

from billabex_async._cli_output import RequestCounter
from billabex_async._client import BillabexClient
from billabex_async._http import TokenProvider
from billabex_async._types import RateLimit, canonical_uuid
from billabex_async.auth import FileTokenStore, OAuthTokenProvider
from billabex_async.errors import BillabexError, InvalidRequestError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Settings",
    "api_errors",
    "err",
    "out",
    "parse_rate_limit",
    "parse_uuid",
    "run_async",
    "saving_rows",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

out = Console()  # results: tables, JSON
err = Console(stderr=True)  # progress, messages, logs


@attrs.frozen
class Settings:
    """The global options; builds the client every command uses."""

    base_url: str | None
    token: str | None = attrs.field(repr=False)  # never shown
    rate_limit: RateLimit | None

    def client(self, counter: RequestCounter | None = None) -> BillabexClient:
        token: str | TokenProvider | None = self.token
        base_url = self.base_url
        if not token:
            # No BILLABEX_TOKEN: the credentials `billabex login` stored.
            store = FileTokenStore()
            credentials = store.load()
            if credentials is None:
                raise click.UsageError(
                    "no access token: set BILLABEX_TOKEN, pass --token, or run `billabex login`"
                )
            token = OAuthTokenProvider(credentials, store=store)
            base_url = base_url or credentials.base_url
        try:
            return BillabexClient(
                token, base_url=base_url, rate_limit=self.rate_limit, on_request=counter
            )
        except InvalidRequestError as exc:
            raise click.UsageError(str(exc)) from None


def parse_rate_limit(ctx: click.Context, param: click.Parameter, value: str) -> RateLimit | None:
    """``300/60`` -> 300 requests per 60 s; ``off`` disables client-side limiting."""
    try:
        return RateLimit.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def parse_uuid(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An account or contact id, canonical; a usage error (exit 2) if it is no UUID."""
    canonical = canonical_uuid(value)
    if canonical is None:
        raise click.BadParameter(f"{param.name} must be a UUID")
    return canonical


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn SDK errors into messages and exit codes; no traceback for expected failures.

    An error that is also a ``ValueError`` (``InvalidRequestError``, a sync
    guard's refusal) means the request was refused before it was sent: exit 2.
    """
    try:
        yield
    except BillabexError as exc:
        # The message is server or user text: never read as rich markup.
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED)


class _Interrupts:
    """The SIGINT handler while a command runs.

    The first Ctrl-C cancels the command's task: it stops sending, lets the
    writes in flight finish (a few seconds at most), reports and exits 130.
    A second one cancels it again, which stops the writes in flight too (their
    rows are still saved); if the first never reached the task because the
    loop is busy, or at a third, KeyboardInterrupt is raised where the program
    is, and ``run_async`` exits 130. While rows are being saved
    (``saving_rows``) Ctrl-C waits.
    """

    __slots__ = ("count", "delivered", "loop", "saving", "task")

    def __init__(self) -> None:
        self.count = 0
        self.delivered = False  # the first cancel reached the loop: the loop is responsive
        self.saving = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[int] | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        task, loop = self.task, self.loop
        if task is None or loop is None or task.done():
            raise KeyboardInterrupt
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

    Ctrl-C exits 130 (see ``_Interrupts``), never with a traceback.
    """
    global _active
    interrupts = _active = _Interrupts()

    async def main() -> int:
        interrupts.loop, interrupts.task = asyncio.get_running_loop(), asyncio.current_task()
        return await coro()

    handle = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupts) if handle else None
    try:
        code = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):  # a command that let the cancel through
        err.print("[yellow]interrupted[/]")
        code = EXIT_INTERRUPTED
    finally:
        _active = None
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    sys.exit(code)
