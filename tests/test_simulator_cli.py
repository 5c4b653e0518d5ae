"""FakeBillabex standalone: ``python -m billabex_async.testing`` in a subprocess."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from billabex_async._types import RateLimit
from billabex_async.testing.__main__ import main, parse_rate_limit

API = "/api/public/v1"
WAIT = 20.0  # seconds: generous bound for a cold interpreter start on a busy CI box


@pytest.fixture
async def server() -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str]]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billabex_async.testing",
        "--port",
        "0",
        "--rate-limit",
        "40/1",
        "--seed-contacts",
        "5",
        "--seed",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        info: dict[str, str] = {}
        for _ in range(3):
            line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
            key, _, value = line.decode().strip().partition(": ")
            info[key] = value
        yield proc, info
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_standalone_serves_then_stops_cleanly_on_signal(
    server: tuple[asyncio.subprocess.Process, dict[str, str]], signum: signal.Signals
) -> None:
    proc, info = server
    assert info["url"].startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as session:
        async with session.get(info["url"] + API + "/status") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ok"})
        url = f"{info['url']}{API}/accounts/{info['account_id']}/contacts"
        headers = {"Authorization": f"Bearer {info['token']}"}
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 200
            assert len((await resp.json())["nodes"]) == 5  # --seed-contacts
            assert resp.headers["X-RateLimit-Limit"] == "40"  # --rate-limit
    proc.send_signal(signum)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, err.decode()
    assert b"stopped after 2 requests" in out
    assert b"Traceback" not in err


def test_parse_rate_limit() -> None:
    assert parse_rate_limit("300/60") == RateLimit(300, 60.0)
    assert parse_rate_limit("40/1") == RateLimit(40, 1.0)
    assert parse_rate_limit("120") == RateLimit(120, 60.0)
    assert parse_rate_limit("none") is None


def test_bad_option_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--rate-limit", "fast"])
    assert exc.value.code == 2
    assert "REQUESTS/SECONDS" in capsys.readouterr().err
