"""`billabex login`, `whoami`, `logout`, and the other commands using stored credentials."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import aiohttp

from billabex_async.testing import FakeBillabex


def _env(fake: FakeBillabex, credentials: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABEX_")}
    env |= {
        "BILLABEX_BASE_URL": fake.url,
        "BILLABEX_CREDENTIALS": str(credentials),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return env


async def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billabex_async",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def _play_browser(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, allow_redirects=False) as resp:
            location = resp.headers["Location"]
        async with session.get(location) as resp:
            assert resp.status == 200


async def test_login_stores_credentials_that_other_commands_use(tmp_path: Path) -> None:
    credentials = tmp_path / "billabex" / "credentials.json"
    async with FakeBillabex(rate_limit=None) as fake:
        env = _env(fake, credentials)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "billabex_async",
            "login",
            "--no-browser",
            "--client-id",
            fake.oauth_client_id,
            "--client-secret",
            fake.oauth_client_secret,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert process.stderr is not None
        seen: list[str] = []
        async with asyncio.timeout(30):
            while True:
                line = (await process.stderr.readline()).decode()
                assert line, "login exited before printing the URL: " + "".join(seen)
                seen.append(line)
                if line.startswith("http://"):
                    break
            await _play_browser(line.strip())
            rest = (await process.stderr.read()).decode()
            assert await process.wait() == 0, rest
        assert "credentials saved" in rest
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600

        code, status = await _run(env, "whoami")
        assert code == 0, status
        assert fake.oauth_client_id in status
        assert "present" in status
        stored = credentials.read_text()
        for line in status.splitlines():
            assert "bbx_" not in line  # no token value is ever shown
        assert "bbx_refresh_" in stored

        fake.add_contact(fake.account_id, full_name="Ada Lovelace", language="en")
        code, listing = await _run(env, "contacts", "list", fake.account_id, "--json")
        assert code == 0, listing
        assert "Ada Lovelace" in listing

        code, _ = await _run(env, "logout")
        assert code == 0
        assert not credentials.exists()
        code, message = await _run(env, "contacts", "list", fake.account_id)
        assert code == 2
        assert "billabex login" in message
