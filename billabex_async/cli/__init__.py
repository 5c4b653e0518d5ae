"""CLI layer: the ``billabex`` console script, an optional extra (``billabex-async[cli]``).

Exit codes: 0 done, 1 something failed (an item, a request), 2 bad usage or
input (nothing sent), 130 interrupted.
"""

from __future__ import annotations

import signal
import sys

from billabex_async.cli._exit_codes import EXIT_INTERRUPTED

__all__ = ["main"]

# What the command needs beyond the library: the ``cli`` extra in pyproject.toml.
_EXTRA_MODULES = frozenset({"click", "rich"})
_MISSING_EXTRA = "the billabex command needs the cli extra: pip install 'billabex-async[cli]'"


def main() -> None:
    """Entry point of the ``billabex`` console script.

    Without click or rich installed, prints one line naming the extra to
    install and exits 2; any other import failure is a bug and propagates.
    A Ctrl-C before a command runs (while click, rich and the command tree
    load, or while click parses the line) exits 130 without a traceback;
    once a command runs, the root group and ``_run`` handle it the same way.
    """
    try:
        _load_and_run()
    except KeyboardInterrupt:
        # A second Ctrl-C while saying so must not print the traceback after all.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


def _load_and_run() -> None:
    try:
        from billabex_async.cli._app import cli
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in _EXTRA_MODULES:
            raise
        print(_MISSING_EXTRA, file=sys.stderr)
        sys.exit(2)  # bad usage: nothing was sent
    cli(prog_name="billabex")
