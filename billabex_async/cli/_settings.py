"""CLI layer: what every command shares: the global settings, the client, exit codes, errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import click
from rich.markup import escape

from billabex_async import BillabexClient, TokenProvider
from billabex_async._types import RateLimit, canonical_uuid
from billabex_async.auth import FileTokenStore, OAuthTokenProvider
from billabex_async.cli._render import RequestCounter, err
from billabex_async.errors import BillabexError, InvalidRequestError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Settings",
    "api_errors",
    "parse_rate_limit",
    "parse_uuid",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
