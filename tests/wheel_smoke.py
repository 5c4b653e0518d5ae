"""The built wheel, installed alone, does what the README promises a new user.

Given the ``bin`` directory of a venv that holds the wheel (with the ``cli``
extra) and nothing of this repository, it starts that venv's simulator with
three seeded contacts, reads the ``export`` lines it prints, and then, from a
temporary directory with only those variables set (as a user's shell would):
runs ``billabex whoami`` and ``billabex contacts list --output json`` (the
three contacts), then the README's quickstart (tests/_quickstart.py's
extraction), then lists again. Exit status 0 on success; an AssertionError
names the first step that failed.

    python -m tests.wheel_smoke VENV_BIN     (nox -s wheel, after make dist)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from tests._quickstart import QUICKSTART_PRINTS, first_python_block
from tests._simulator_process import WAIT, read_banner

SEEDED = 3


async def _run(cwd: Path, env: dict[str, str], *argv: str) -> str:
    """stdout of ``argv``; fails with its stderr unless it exits 0."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}: {err.decode()}"
    return out.decode()


async def _listed(bin_dir: Path, cwd: Path, env: dict[str, str]) -> list[dict[str, object]]:
    account = env["BILLABEX_ACCOUNT_ID"]
    out = await _run(cwd, env, str(bin_dir / "billabex"), "contacts", "list", account, "-o", "json")
    return [json.loads(line) for line in out.splitlines()]


async def smoke(bin_dir: Path, home: Path) -> None:
    python = str(bin_dir / "python")
    # A user's shell: none of our variables, no PYTHONPATH, a home of its own (no stored login).
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BILLABEX_", "PYTHON", "VIRTUAL"))
    }
    env |= {"HOME": str(home), "NO_COLOR": "1"}
    where = await _run(
        home, env, python, "-c", "import billabex_async; print(billabex_async.__file__)"
    )
    assert Path(where.strip()).is_relative_to(bin_dir.parent), f"not the wheel's copy: {where}"

    server = await asyncio.create_subprocess_exec(
        python,
        "-m",
        "billabex_async.testing",
        "--port",
        "0",
        "--seed-contacts",
        str(SEEDED),
        cwd=home,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        banner = await read_banner(server)
        env |= banner.exports
        whoami = await _run(home, env, str(bin_dir / "billabex"), "whoami")
        assert "BILLABEX_TOKEN" in whoami, f"whoami does not report the env token: {whoami}"
        seeded = await _listed(bin_dir, home, env)
        assert len(seeded) == SEEDED, f"expected {SEEDED} seeded contacts: {seeded}"

        (home / "quickstart.py").write_text(first_python_block())
        printed = (await _run(home, env, python, "quickstart.py")).splitlines()
        # The block's comments assume an empty account; here the seeded contacts list too.
        assert printed[0] == QUICKSTART_PRINTS[0], printed
        assert QUICKSTART_PRINTS[1] in printed[1:], printed

        after = await _listed(bin_dir, home, env)
        assert {c["id"] for c in seeded} < {c["id"] for c in after}, after
        assert len(after) == SEEDED + 1, after
        server.send_signal(signal.SIGINT)
        await asyncio.wait_for(server.communicate(), WAIT)
        assert server.returncode == 0, f"the simulator exited {server.returncode} on Ctrl-C"
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir = Path(argv[0]).resolve()
    with tempfile.TemporaryDirectory(prefix="billabex-wheel-") as home:
        asyncio.run(smoke(bin_dir, Path(home)))
    print("wheel smoke: quickstart, whoami and contacts list ran from the installed wheel")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
