"""A Ctrl-C while the ``billabex`` command is still starting exits 130, without a traceback.

While aiohttp, click, rich and the command tree load, the console script runs as a
user runs it: a ``sitecustomize`` on its PYTHONPATH holds the start-up at a
chosen import, says so on stdout and blocks reading stdin, so the SIGINT
arrives exactly there, never by timing.
While click parses the line, an option's callback raises the interrupt.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from billabex_async.cli._app import cli
from tests._simulator_process import WAIT

EXIT_INTERRUPTED = 130
CONSOLE_SCRIPT = Path(sys.executable).parent / "billabex"
HELD = "held at import"

# Runs before the console script's first line: a finder that stops at one import.
_SITECUSTOMIZE = """\
import sys

class _Hold:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            print({held!r}, flush=True)
            sys.stdin.readline()  # the SIGINT interrupts this read
        return None

sys.meta_path.insert(0, _Hold())
"""


# aiohttp: the client's transport, which the package itself no longer loads on import.
@pytest.mark.parametrize("module", ["aiohttp", "click", "rich", "billabex_async.cli.contacts"])
async def test_ctrl_c_while_the_command_tree_loads_exits_130(tmp_path: Path, module: str) -> None:
    assert CONSOLE_SCRIPT.exists(), f"the console script is not installed: {CONSOLE_SCRIPT}"
    (tmp_path / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(module=module, held=HELD))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABEX_")}
    env["PYTHONPATH"] = str(tmp_path)
    process = await asyncio.create_subprocess_exec(
        str(CONSOLE_SCRIPT),
        "whoami",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT)
    assert line.decode().strip() == HELD, "the start-up never reached the import"
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert "Traceback" not in err.decode(), err.decode()
    assert process.returncode == EXIT_INTERRUPTED, err.decode()
    assert err.decode().strip() == "interrupted"
    assert out == b""  # no command ran


def test_ctrl_c_while_click_parses_the_root_options_exits_130(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(ctx: click.Context, param: click.Parameter, value: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while --rate-limit is being read

    [rate_limit] = [p for p in cli.params if p.name == "rate_limit"]
    monkeypatch.setattr(rate_limit, "callback", interrupted)
    result = CliRunner().invoke(cli, ["--rate-limit", "off", "whoami"])
    assert result.exit_code == EXIT_INTERRUPTED, result.output  # click alone: "Aborted!", 1
    assert "Aborted" not in result.output
    assert "interrupted" in result.output
