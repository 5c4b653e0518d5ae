"""CLI layer: the SDK's logs on the error console, cleaned of terminal escapes."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

from billabex_async.cli._text import clean

__all__ = ["log_to"]


class _Clean(logging.Filter):
    """Log lines carry server text: no escape sequence of it reaches the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = clean(record.getMessage(), lines=True), None
        return True


class _Lines(logging.Handler):
    """Plain log lines on the console's stream, looked up at each line (it may be replaced)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._console = console
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self._console.file
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's rule: a failing handler never raises
            self.handleError(record)


_handler: logging.Handler | None = None


def log_to(console: Console, verbose: int) -> None:
    """Show the SDK's logs on ``console``: warnings, ``-v`` decisions, ``-vv`` every request.

    Rich lines on a terminal; plain lines with a timestamp in a pipe or a CI log.
    """
    global _handler
    if _handler is None:
        if console.is_terminal:
            _handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        else:
            _handler = _Lines(console)
        _handler.addFilter(_Clean())
        logging.getLogger().addHandler(_handler)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.getLogger("billabex_async").setLevel(level)
