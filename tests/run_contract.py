"""`make contract`: schemathesis judges openapi/contacts.yaml against FakeBillabex.

Starts the simulator (``python -m billabex_async.testing``) on a free port
with a permissive rate limit, reads the url, token and account id it prints,
then runs ``schemathesis run`` with openapi/schemathesis.toml: every check and
every phase (examples, coverage, fuzzing, stateful). The whole run is bounded
by ``--timeout``; the simulator is stopped whatever happens. Exit status is
schemathesis' own (0: spec and simulator agree), or 1 on a timeout or a
simulator that does not start.

    python -m tests.run_contract [--timeout SECONDS] [--config TOML] [-- schemathesis run args]
"""

from __future__ import annotations

import argparse
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "contacts.yaml"
CONFIG = ROOT / "openapi" / "schemathesis.toml"
API_PREFIX = "/api/public/v1"
# Far above what one run sends (a few thousand requests): the contract is
# about the wire format, and 429s would only hide answers. The rate-limit
# headers are still sent, so their shape is checked.
RATE_LIMIT = "1000000/60"
STARTUP_TIMEOUT = 20.0  # seconds for the simulator to print its address
DEFAULT_TIMEOUT = 300.0  # seconds for the schemathesis run; a normal one takes under a minute


def read_banner(process: subprocess.Popen[bytes], timeout: float) -> dict[str, str]:
    """The ``key: value`` lines the simulator prints once it listens."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    wanted = {"url", "token", "account_id"}
    found: dict[str, str] = {}
    pending = b""
    deadline = time.monotonic() + timeout
    # Raw reads of the pipe: a buffered reader would hold lines the selector
    # can no longer see.
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not wanted <= found.keys():
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise RuntimeError(f"the simulator printed no address within {timeout:.0f} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"the simulator exited with status {process.wait()}")
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                key, sep, value = line.decode().partition(": ")
                if sep:
                    found[key.strip()] = value.strip()
    return found


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_schemathesis(simulator: subprocess.Popen[bytes], args: argparse.Namespace) -> int:
    """Wait for the simulator's address, then run schemathesis against it."""
    try:
        banner = read_banner(simulator, STARTUP_TIMEOUT)
    except RuntimeError as exc:
        print(f"contract: {exc}", file=sys.stderr)
        return 1
    # The token goes through the environment, never on a command line.
    env = {
        **os.environ,
        "BILLABEX_TOKEN": banner["token"],
        "BILLABEX_ACCOUNT_ID": banner["account_id"],
    }
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(args.config),
        "run", str(SPEC), "--url", banner["url"] + API_PREFIX, "--no-color", *args.extra,
    ]  # fmt: skip
    try:
        return subprocess.run(command, env=env, timeout=args.timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"contract: schemathesis ran past {args.timeout:.0f} s", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.run_contract", description=__doc__)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
    parser.add_argument("--config", type=Path, default=CONFIG, help="a schemathesis.toml")
    parser.add_argument("extra", nargs="*", help="more `schemathesis run` arguments (after --)")
    args = parser.parse_args(argv)
    # The simulator's log is shown only when the run fails: schemathesis'
    # malformed-request probes make aiohttp log errors that are expected.
    simulator_command = [
        sys.executable, "-m", "billabex_async.testing",
        "--port", "0", "--rate-limit", RATE_LIMIT, "--seed", "1",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        simulator = subprocess.Popen(
            simulator_command,
            stdout=subprocess.PIPE,
            stderr=log,
            bufsize=0,
        )
        try:
            status = run_schemathesis(simulator, args)
        finally:
            stop(simulator)
        if status != 0:
            log.seek(0)
            sys.stderr.write("contract: the simulator's log:\n")
            sys.stderr.write(log.read().decode(errors="replace"))
        return status


if __name__ == "__main__":
    sys.exit(main())
