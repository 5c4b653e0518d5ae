"""Ctrl-C and refusals in ``contacts sync``: exit codes, what was sent, what was kept.

The CLI runs as a subprocess against a FakeBillabex served by the test's
loop; each signal is sent once the CLI has observably reached the phase.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from billabex_async import errors
from billabex_async.cli._app import cli
from billabex_async.cli._run import _Interrupts
from billabex_async.testing import FakeBillabex
from tests._cli_run import (
    HEADER,
    ROWS,
    Stderr,
    interrupt_and_wait,
    leftovers,
    start,
    until,
    write_csv,
)

EXIT_INTERRUPTED = 130


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=8) as fake:
        yield fake


async def test_ctrl_c_while_planning_exits_130_at_once_and_writes_nothing(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    fake.script(method="GET", kind="delay", delay=30.0)  # the listing hangs
    process = await start(fake, "contacts", "sync", fake.account_id, str(source))
    await Stderr(process).wait_for("Listing")
    await until(lambda: fake.stats.requests == 1)  # the list request is in flight
    took = await interrupt_and_wait(process, within=5.0)
    assert process.returncode == EXIT_INTERRUPTED
    assert took < 2.0
    assert fake.stats.requests == 1
    assert not (tmp_path / "contacts.failures.csv").exists()


async def test_ctrl_c_in_any_command_exits_130_without_a_traceback(fake: FakeBillabex) -> None:
    fake.script(method="GET", kind="delay", delay=30.0)
    process = await start(fake, "contacts", "list", fake.account_id)
    await until(lambda: fake.stats.requests == 1)
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(5.0):
        _, err = await process.communicate()
    assert process.returncode == EXIT_INTERRUPTED
    assert "Traceback" not in err.decode()


async def test_a_second_ctrl_c_stops_the_writes_in_flight_and_keeps_their_rows(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    fake.script(method="PUT", kind="delay", delay=30.0)  # the first write hangs
    process = await start(
        fake, "contacts", "sync", fake.account_id, str(source), "--concurrency", "1"
    )
    stderr = Stderr(process)
    await stderr.wait_for("Writing")
    await until(lambda: fake.stats.requests == 2)  # the listing, then the first PUT
    process.send_signal(signal.SIGINT)  # the first Ctrl-C: stop sending, let the PUT finish
    await stderr.wait_for("stopping")
    took = await interrupt_and_wait(process, within=4.0)  # sooner than the 5 s grace
    assert process.returncode == EXIT_INTERRUPTED, stderr.text
    assert took < 2.0
    assert fake.stats.requests == 2  # nothing sent after the first Ctrl-C
    with (tmp_path / "contacts.failures.csv").open(newline="", encoding="utf-8") as handle:
        kept = [row["full_name"] for row in csv.DictReader(handle)]
    assert kept == ["Ada Lovelace", "Bob Marley", "Chloé Zhao"]  # in flight, then never sent
    assert leftovers(tmp_path) == []


async def test_ctrl_c_at_the_delete_question_exits_130_and_writes_nothing(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    fake.add_contact(fake.account_id, full_name="Old Timer")
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    primary, secondary = os.openpty()
    try:
        process = await start(
            fake, "contacts", "sync", fake.account_id, str(source), "--delete-missing",
            stdin=secondary,
        )  # fmt: skip
        os.close(secondary)
        await Stderr(process).wait_for("[y/N]")
        took = await interrupt_and_wait(process, within=5.0)
    finally:
        os.close(primary)
    assert process.returncode == EXIT_INTERRUPTED
    assert took < 2.0
    assert {r.method for r in fake.requests} == {"GET"}
    assert [c.full_name for c in fake.contacts(fake.account_id)] == ["Old Timer"]


class _Refused(errors.BillabexError, ValueError):
    """What a sync guard raises when it refuses a run (a BillabexError and a ValueError)."""


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidRequestError("refusing to delete 40 contacts: pass max_deletes=40"),
        _Refused("refusing to delete 40 contacts: pass max_deletes=40"),
    ],
)
def test_a_refusal_from_the_sync_library_exits_2_with_its_message(
    error: errors.BillabexError, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("billabex_async.cli._sync.plan_sync", refuse)
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    account = "5b0e0c7e-8f0a-4c55-9d8e-0c1f3e6a7b21"
    options = ["--token", "t-not-sent", "--base-url", "http://127.0.0.1:9"]
    command = ["contacts", "sync", account, str(source)]
    result = CliRunner().invoke(cli, [*options, *command])
    assert result.exit_code == 2, result.output
    assert "refusing to delete 40 contacts: pass max_deletes=40" in result.stderr
    assert result.exc_info is not None
    assert result.exc_info[0] is SystemExit  # a message, not a traceback


async def test_ctrl_c_presses_cancel_then_stop_and_wait_while_rows_are_saved() -> None:
    stages: list[str] = []

    async def command() -> int:
        try:
            await asyncio.Event().wait()  # sending
        except asyncio.CancelledError:
            stages.append("stop sending")
        try:
            await asyncio.Event().wait()  # the writes in flight, given time to finish
        except asyncio.CancelledError:
            stages.append("cut the writes in flight")
            raise
        return 0

    loop = asyncio.get_running_loop()
    responsive = _Interrupts()
    responsive.loop, responsive.task = loop, asyncio.create_task(command())
    responsive(signal.SIGINT, None)  # first: a cancel, delivered by the running loop
    await asyncio.sleep(0)  # one loop turn: the callback, then the task's step
    await asyncio.sleep(0)
    assert responsive.delivered
    assert stages == ["stop sending"]
    responsive.saving = True
    responsive(signal.SIGINT, None)  # while saving: nothing happens
    responsive.saving = False
    responsive(signal.SIGINT, None)  # second: another cancel, no unwinding
    with pytest.raises(asyncio.CancelledError):
        await responsive.task
    assert stages == ["stop sending", "cut the writes in flight"]
    blocked = _Interrupts()
    blocked.loop, blocked.task = loop, asyncio.create_task(command())
    blocked(signal.SIGINT, None)  # the loop never ran in between: it is busy
    with pytest.raises(KeyboardInterrupt):
        blocked(signal.SIGINT, None)
    blocked.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked.task
