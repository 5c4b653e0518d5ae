"""CLI layer: ``billabex login``, ``logout`` and ``auth status`` (stored OAuth credentials)."""

from __future__ import annotations

import time
import webbrowser
from datetime import UTC, datetime

import click
from rich.table import Table

from billabex_async import DEFAULT_BASE_URL
from billabex_async.auth import DEFAULT_SCOPE, FileTokenStore, login
from billabex_async.cli._render import err, out
from billabex_async.cli._run import run_async
from billabex_async.cli._settings import EXIT_OK, Settings
from billabex_async.cli._text import plain

__all__ = ["auth", "login_cmd", "logout_cmd"]


@click.command("login")
@click.option(
    "--client-id",
    envvar="BILLABEX_CLIENT_ID",
    help="OAuth client id [env BILLABEX_CLIENT_ID]; default: the stored one, else register one.",
)
@click.option(
    "--client-secret",
    envvar="BILLABEX_CLIENT_SECRET",
    help="OAuth client secret, for confidential clients [env BILLABEX_CLIENT_SECRET].",
)
@click.option("--scope", default=DEFAULT_SCOPE, show_default=True, help="Space-separated scopes.")
@click.option("--no-browser", is_flag=True, help="Print the URL instead of opening a browser.")
@click.option("--port", default=0, show_default=True, help="Loopback port for the redirect.")
@click.pass_obj
def login_cmd(
    settings: object,
    client_id: str | None,
    client_secret: str | None,
    scope: str,
    no_browser: bool,
    port: int,
) -> None:
    """Log in through the browser (OAuth 2.1 + PKCE) and store the tokens.

    Without --client-id, reuses the client stored by an earlier login to the
    same server, or registers one (RFC 7591) and stores it with the tokens.
    """
    base_url = (getattr(settings, "base_url", None) or DEFAULT_BASE_URL).rstrip("/")
    store = FileTokenStore()
    if client_id is None:
        if client_secret:
            raise click.UsageError("--client-secret needs --client-id")
        stored = store.load()
        if stored is not None and stored.base_url == base_url:
            client_id, client_secret = stored.client_id, stored.client_secret

    def show(url: str) -> None:
        err.print("Open this URL to log in to Billabex:", highlight=False)
        err.print(plain(url))  # from the server's metadata: inert, never markup
        if not no_browser:
            webbrowser.open(url)

    async def run() -> int:
        credentials = await login(
            base_url,
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
            open_browser=show,
            port=port,
        )
        if client_id is None:
            err.print(plain(f"Registered OAuth client {credentials.client_id}"))
        store.save(credentials)
        err.print(plain(f"Logged in; credentials saved to {store.path}"))
        return EXIT_OK

    run_async(run)


@click.command("logout")
def logout_cmd() -> None:
    """Forget the stored credentials."""
    store = FileTokenStore()
    existed = store.path.exists()
    store.clear()
    err.print("Logged out." if existed else "Not logged in.", highlight=False)


@click.group("auth")
def auth() -> None:
    """Inspect the stored OAuth credentials."""


@auth.command("status")
@click.pass_obj
def status_cmd(settings: Settings | None) -> None:
    """Show which token commands use, and where stored credentials point (never a token).

    A token given by --token or BILLABEX_TOKEN comes first: the stored login
    is used only without one.
    """
    store = FileTokenStore()
    credentials = store.load()
    if settings is not None and settings.token:
        table = Table(show_header=False)
        table.add_row("token", f"from {settings.token_origin()} (never shown)")
        base_url = settings.base_url or DEFAULT_BASE_URL
        table.add_row("base url", plain(base_url))
        if credentials is not None:
            table.add_row("stored login", plain(f"{store.path} (not used while a token is given)"))
        out.print(table)
        return
    if credentials is None:
        err.print(plain(f"Not logged in (no {store.path}). Run `billabex login`."))
        err.print(plain("Or set BILLABEX_TOKEN (or pass --token) to use an access token."))
        raise SystemExit(1)
    tokens = credentials.tokens
    left = tokens.expires_at - time.time()
    expiry = datetime.fromtimestamp(tokens.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    table = Table(show_header=False)
    table.add_row("token", "from the stored login (never shown)")
    table.add_row("credentials", plain(store.path))
    table.add_row("base url", plain(credentials.base_url))
    table.add_row("client id", plain(credentials.client_id))
    table.add_row(
        "client secret", "stored (never shown)" if credentials.client_secret else "none (public)"
    )
    table.add_row("scopes", plain(tokens.scope or "(not stated)"))
    table.add_row(
        "access token",
        f"expires {expiry} ({'in ' + str(int(left)) + ' s' if left > 0 else 'expired'})",
    )
    table.add_row(
        "refresh token",
        "present: refreshed automatically" if tokens.refresh_token else "absent",
    )
    out.print(table)
