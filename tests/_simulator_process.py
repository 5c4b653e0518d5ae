"""The simulator as a user starts it: `python -m billabex_async.testing`, a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import AsyncIterator

import attrs

# A hang bound, not a speed target: a cold interpreter in a fresh venv (no bytecode
# yet) on a CI box running other legs beside this one has taken over 20 s to print
# its banner. A simulator that is alive but silent this long is hung.
WAIT = 180.0
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
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT  # for the whole banner, however it is split into lines
    while True:
        try:
            raw = await asyncio.wait_for(proc.stdout.readline(), deadline - loop.time())
        except TimeoutError:
            raise AssertionError(f"no ready line after {WAIT:.0f} s: {banner.lines}") from None
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
