"""CLI layer: the ``billabex`` click group: global options, logging, the command tree."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import click
from click.core import ParameterSource

from billabex_async._types import RateLimit
from billabex_async.cli._logs import log_to
from billabex_async.cli._render import err
from billabex_async.cli._settings import EXIT_INTERRUPTED, Settings, parse_rate_limit
from billabex_async.cli.auth import auth, login_cmd, logout_cmd
from billabex_async.cli.contacts import contacts

__all__ = ["cli"]

_EPILOG = """\b
Global options also work after the subcommand:
  billabex contacts list ACCOUNT -v --rate-limit off

\b
Shell completion (bash; zsh_source and fish_source for the others):
  eval "$(_BILLABEX_COMPLETE=bash_source billabex)"
"""

_HELP = {
    "base_url": "API host root [env BILLABEX_BASE_URL].",
    "token": "Access token [env BILLABEX_TOKEN; preferred].",
    "rate_limit": "Requests per window of seconds this token may send, or 'off'.",
    "verbose": "Log SDK decisions (-vv: every request).",
}


class _Billabex(click.Group):
    """The root group: a Ctrl-C anywhere in a command exits 130, like one in its requests.

    Click turns a stray KeyboardInterrupt (reading a large file, the exit
    path of a command) into "Aborted!" and exit 1; commands that send
    requests handle Ctrl-C themselves (``_run``). This catches the rest.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # Parsing the root's options (and their callbacks) runs outside invoke().
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            _say_interrupted()
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _say_interrupted()
            ctx.exit(EXIT_INTERRUPTED)


def _say_interrupted() -> None:
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:  # one more Ctrl-C while saying so must not turn into exit 1
        err.print("interrupted", style="yellow")
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@click.group(
    cls=_Billabex,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=_EPILOG,
)
@click.option("--base-url", envvar="BILLABEX_BASE_URL", help=_HELP["base_url"])
@click.option("--token", envvar="BILLABEX_TOKEN", help=_HELP["token"])
@click.option(
    "--rate-limit",
    default="300/60",
    show_default=True,
    callback=parse_rate_limit,
    help=_HELP["rate_limit"],
)
@click.option("-v", "--verbose", count=True, help=_HELP["verbose"])
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
    log_to(err, verbose)
    from_flag = ctx.get_parameter_source("token") is ParameterSource.COMMANDLINE
    ctx.obj = Settings(base_url, token, rate_limit, from_flag=from_flag, verbose=verbose)


def _later(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """The callback of a global option given after a subcommand: it overrides the earlier value."""

    def override(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if ctx.get_parameter_source(str(param.name)) is not ParameterSource.COMMANDLINE:
            return  # not on this command's part of the line: the earlier value stands
        settings = ctx.find_object(Settings) or Settings(None, None, RateLimit())
        changes: dict[str, Any] = {name: value}
        if name == "rate_limit":
            changes[name] = parse_rate_limit(ctx, param, value)
        elif name == "token":
            changes["from_flag"] = True
        elif name == "verbose":
            changes[name] = settings.verbose + value
            log_to(err, changes[name])
        ctx.obj = attrs.evolve(settings, **changes)

    return override


def _global_options() -> list[click.Parameter]:
    """The root's options again, for a subcommand: hidden from its help, read by ``_later``."""
    common: dict[str, Any] = {"hidden": True, "expose_value": False}
    return [
        click.Option(["--base-url"], callback=_later("base_url"), **common),
        click.Option(["--token"], callback=_later("token"), **common),
        click.Option(["--rate-limit"], callback=_later("rate_limit"), **common),
        click.Option(["-v", "--verbose"], count=True, callback=_later("verbose"), **common),
    ]


def _commands(group: click.Group) -> Iterator[click.Command]:
    for command in group.commands.values():
        yield command
        if isinstance(command, click.Group):
            yield from _commands(command)


cli.add_command(login_cmd)
cli.add_command(logout_cmd)
cli.add_command(auth)
cli.add_command(auth.commands["status"], "whoami")
cli.add_command(contacts)
for _command in {id(c): c for c in _commands(cli)}.values():  # whoami is auth status
    _command.params.extend(_global_options())
