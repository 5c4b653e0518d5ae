"""The simulator as a user starts it: `python -m billabex_async.testing`, a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import AsyncIterator

import attrs

WAIT = 20.0  # seconds: generous bound for a cold interpreter start on a busy CI box
READY = "# Serving until Ctrl-C."  # the banner's last line


@attrs.define
class Banner:
    """What the simulator printed on start."""

    lines: list[str]
    info: dict[str, str]
    """The ``key: value`` lines."""
    exports: dict[str, str]
    """The ``export NAME=VALUE`` lines, unquoted as a shell would."""


async def read_banner(proc: asyncio.subprocess.Process) -> Banner:
    """Every line up to the ready line, parsed; fails if the process ends first."""
    assert proc.stdout is not None
    banner = Banner([], {}, {})
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), WAIT)
        assert raw, f"the simulator exited before it was ready: {banner.lines}"
        line = raw.decode().rstrip("\n")
        banner.lines.append(line)
        if line == READY:
            return banner
        if line.startswith("export "):
            [assignment] = shlex.split(line.removeprefix("export "))
            name, _, value = assignment.partition("=")
            banner.exports[name] = value
        elif ": " in line and not line.startswith("#"):
            key, _, value = line.partition(": ")
            banner.info[key] = value


@contextlib.asynccontextmanager
async def simulator(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, Banner]]:
    """A running simulator and its banner; killed on exit if the test did not stop it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billabex_async.testing",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield proc, await read_banner(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
