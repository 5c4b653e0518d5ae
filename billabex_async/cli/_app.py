"""CLI layer: the ``billabex`` click group: global options, logging, the command tree."""

from __future__ import annotations

import logging

import click
from rich.logging import RichHandler

from billabex_async._types import RateLimit
from billabex_async.cli._render import err
from billabex_async.cli._settings import Settings, parse_rate_limit
from billabex_async.cli.auth import auth, login_cmd, logout_cmd
from billabex_async.cli.contacts import contacts

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--base-url", envvar="BILLABEX_BASE_URL", help="API host root [env BILLABEX_BASE_URL]."
)
@click.option(
    "--token", envvar="BILLABEX_TOKEN", help="Access token [env BILLABEX_TOKEN; preferred]."
)
@click.option(
    "--rate-limit",
    default="300/60",
    show_default=True,
    callback=parse_rate_limit,
    help="Requests per window of seconds this token may send, or 'off'.",
)
@click.option("-v", "--verbose", count=True, help="Log SDK decisions (-vv: every request).")
@click.version_option(package_name="billabex-async")
@click.pass_context
def cli(
    ctx: click.Context,
    base_url: str | None,
    token: str | None,
    rate_limit: RateLimit | None,
    verbose: int,
) -> None:
    """Manage Billabex contacts from the command line."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s")
    logging.getLogger("billabex_async").setLevel(level)
    ctx.obj = Settings(base_url, token, rate_limit)


cli.add_command(login_cmd)
cli.add_command(logout_cmd)
cli.add_command(auth)
cli.add_command(auth.commands["status"], "whoami")
cli.add_command(contacts)
