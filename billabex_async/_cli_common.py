"""CLI layer: what every command shares: settings, consoles, exit codes, error mapping."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from uuid import UUID

import attrs
import click
from rich.console import Console

from billabex_async._cli_output import RequestCounter
from billabex_async._client import BillabexClient
from billabex_async._http import TokenProvider
from billabex_async._types import RateLimit
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
    if value.lower() in ("off", "none"):
        return None
    requests, _, window = value.partition("/")
    try:
        return RateLimit(int(requests), float(window or 60))
    except ValueError:
        raise click.BadParameter("expected REQUESTS/SECONDS, e.g. 300/60, or 'off'") from None


def parse_uuid(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An account or contact id, canonical; a usage error (exit 2) if it is no UUID."""
    try:
        return str(UUID(value))
    except ValueError:
        raise click.BadParameter(f"{param.name} must be a UUID") from None


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn SDK errors into messages and exit codes; no traceback for expected failures."""
    try:
        yield
    except InvalidRequestError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_USAGE)
    except BillabexError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_FAILED)


def run_async(coro: Callable[[], Awaitable[int]]) -> None:
    """Run a command's coroutine in a fresh loop and exit with the code it returns."""

    async def main() -> int:
        return await coro()

    sys.exit(asyncio.run(main()))
