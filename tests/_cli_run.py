"""Test helper: run the ``billabex`` CLI as a real subprocess against a FakeBillabex."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from billabex_async.testing import FakeBillabex

HEADER = ["full_name", "language", "email", "role", "is_primary"]
ROWS = [
    ["Ada Lovelace", "en", "ada@example.org", "CFO", "true"],
    ["Bob Marley", "fr", "", "", ""],
    ["Chloé Zhao", "de", "chloe@example.org", "", "no"],
]


@attrs.frozen
class Run:
    code: int
    out: str
    err: str


def _env(
    fake: FakeBillabex, with_token: bool, changes: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABEX_")}
    env |= {"BILLABEX_BASE_URL": fake.url, "NO_COLOR": "1", "COLUMNS": "200"}
    if with_token:
        env["BILLABEX_TOKEN"] = fake.token
    for name, value in (changes or {}).items():  # None removes the variable
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


async def start(
    fake: FakeBillabex,
    *args: str,
    stdin: Any = None,
    with_token: bool = True,
    env: Mapping[str, str | None] | None = None,
) -> asyncio.subprocess.Process:
    """Start ``python -m billabex_async ARGS`` with the simulator's URL (and token) in the env.

    stdin is /dev/null (no terminal) unless another file descriptor is given;
    ``env`` sets (or, with None, removes) more environment variables.
    """
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billabex_async",
        "--rate-limit",
        "off",
        *args,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(fake, with_token, env),
    )


async def billabex(
    fake: FakeBillabex,
    *args: str,
    with_token: bool = True,
    env: Mapping[str, str | None] | None = None,
) -> Run:
    """Run the CLI to its end; the token must not appear in its output."""
    process = await start(fake, *args, with_token=with_token, env=env)
    out, err = await process.communicate()
    assert process.returncode is not None
    run = Run(process.returncode, out.decode(), err.decode())
    assert fake.token not in run.out + run.err  # never echoed
    return run


class Stderr:
    """A running CLI's stderr, read as it comes, to wait for what it says."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        self._stream = process.stderr
        self.text = ""

    async def wait_for(self, text: str, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while text not in self.text:
                chunk = await self._stream.read(4096)
                if not chunk:
                    raise AssertionError(f"stderr ended without {text!r}:\n{self.text}")
                self.text += chunk.decode()


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until the simulator (served by this loop) has reached ``condition``."""
    async with asyncio.timeout(within):
        # The simulator counts arrivals but has no event to await: look each 5 ms.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def interrupt_and_wait(process: asyncio.subprocess.Process, within: float) -> float:
    """Send SIGINT, wait for the exit (at most ``within`` s); returns the seconds it took.

    What the process writes from then on is read and dropped.
    """
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(within):
        await process.communicate()
    return time.monotonic() - sent


def leftovers(folder: Path) -> list[str]:
    """Hidden files in ``folder``: what an interrupted atomic write would leave."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def write_csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
