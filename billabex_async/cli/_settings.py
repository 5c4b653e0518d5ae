"""CLI layer: what every command shares: the global settings, the client, exit codes, errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import click
from rich.text import Text

from billabex_async import BillabexClient, TokenProvider
from billabex_async._types import RateLimit, canonical_uuid
from billabex_async.auth import FileTokenStore, OAuthTokenProvider
from billabex_async.cli._exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from billabex_async.cli._render import RequestCounter, err
from billabex_async.cli._text import label
from billabex_async.errors import (
    AuthenticationError,
    AuthRefreshError,
    BillabexError,
    InvalidRequestError,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Settings",
    "api_errors",
    "parse_rate_limit",
    "parse_uuid",
    "token_hint",
]


@attrs.frozen
class Settings:
    """The global options; builds the client every command uses."""

    base_url: str | None
    token: str | None = attrs.field(repr=False)  # never shown
    rate_limit: RateLimit | None
    from_flag: bool = False
    """The token came from ``--token`` (else from BILLABEX_TOKEN; with no token at
    all, the credentials `billabex login` stored are used)."""
    verbose: int = 0

    def token_origin(self) -> str:
        """Where the token a request carries comes from, in words; never the token."""
        if self.token and self.from_flag:
            return "the --token option"
        if self.token:
            return "the BILLABEX_TOKEN environment variable"
        return f"the login stored in {FileTokenStore().path}"

    def token_advice(self) -> str:
        """What to do about a token the server refused."""
        if self.token and self.from_flag:
            return "check it, or drop --token and run `billabex login`"
        if self.token:
            return "check it, or unset it and run `billabex login`"
        return "run `billabex login` again"

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
    A refused token (401, or a refresh that failed) also says where the token
    came from, never what it is.
    """
    try:
        yield
    except BillabexError as exc:
        # The message is server or user text: printed inert (``label``), never as markup.
        err.print(label("error:", exc))
        hint = token_hint(exc)
        if hint is not None:
            err.print(hint)
        sys.exit(EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILED)


def token_hint(exc: BaseException | None) -> Text | None:
    """For a refused token (401, a failed refresh): where it came from and what to do."""
    if not isinstance(exc, AuthenticationError | AuthRefreshError):
        return None
    ctx = click.get_current_context(silent=True)
    settings = ctx.find_object(Settings) if ctx is not None else None
    if settings is None:
        return None
    where = f"the token came from {settings.token_origin()}"
    return label("hint:", f"{where}: {settings.token_advice()}", "yellow")
