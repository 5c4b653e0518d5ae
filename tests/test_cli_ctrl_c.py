"""Every Ctrl-C exits 130: before the first request, while winding down, twice in a row."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from billabex_async.cli import _run
from billabex_async.cli._app import cli
from billabex_async.testing import FakeBillabex
from tests._cli_run import HEADER, ROWS, start, until, write_csv

EXIT_INTERRUPTED = 130


def _exit_code(command: Any) -> object:
    """``run_async(command)``'s exit code; a KeyboardInterrupt escaping it fails the test."""
    try:
        _run.run_async(command)
    except SystemExit as exc:
        return exc.code
    except KeyboardInterrupt:  # pytest would take it as the user stopping the session
        pytest.fail("KeyboardInterrupt escaped run_async (click would exit 1)")
    return None


def test_ctrl_c_before_any_request_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reading(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while a large file is being checked

    monkeypatch.setattr("billabex_async.cli.contacts.read_rows", reading)
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    account = "5b0e0c7e-8f0a-4c55-9d8e-0c1f3e6a7b21"
    result = CliRunner().invoke(cli, ["--token", "t", "contacts", "sync", account, str(source)])
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert "interrupted" in result.stderr
    assert "Aborted" not in result.output + result.stderr
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_ctrl_c_while_the_interruption_is_reported_still_exits_130(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Pressing:
        """The error console, with the user pressing Ctrl-C again as it prints."""

        def print(self, *args: object, **kwargs: object) -> None:
            signal.raise_signal(signal.SIGINT)

    async def cancelled() -> int:
        raise asyncio.CancelledError  # a command that let the first Ctrl-C's cancel through

    monkeypatch.setattr(_run, "err", Pressing())
    assert _exit_code(cancelled) == EXIT_INTERRUPTED


def test_a_ctrl_c_as_a_command_finishes_makes_the_exit_130() -> None:
    async def finishing() -> int:
        signal.raise_signal(signal.SIGINT)  # pressed just as the last result came in
        return 0

    assert _exit_code(finishing) == EXIT_INTERRUPTED
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_after_the_command_ended_is_not_raised() -> None:
    interrupts = _run._Interrupts()
    interrupts.over = True
    interrupts(signal.SIGINT, None)  # the loop is closing: nothing to stop, nothing raised
    assert interrupts.pressed == 1


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=9) as fake:
        yield fake


async def test_two_ctrl_c_in_a_row_exit_130_without_a_traceback(fake: FakeBillabex) -> None:
    fake.script(method="GET", kind="delay", delay=30.0)
    process = await start(fake, "contacts", "list", fake.account_id)
    await until(lambda: fake.stats.requests == 1)  # the request is in flight
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)  # at once: the first may not have reached the loop
    async with asyncio.timeout(10.0):
        _, err = await process.communicate()
    assert process.returncode == EXIT_INTERRUPTED, err.decode()
    assert "Traceback" not in err.decode()
    assert "Aborted" not in err.decode()
