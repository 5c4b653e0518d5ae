"""Test helpers for login flows: a browser for the authorize redirect, the CLI with saved tokens."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

from billabex_async.auth import Credentials, login
from billabex_async.testing import FakeBillabex


class Browser:
    """Plays the user's browser: follows the authorize redirect to the loopback."""

    def __init__(self, *, tamper_state: bool = False) -> None:
        self.tamper_state = tamper_state
        self.tasks: list[asyncio.Task[None]] = []
        self.landed: list[int] = []

    def open(self, url: str) -> None:
        self.tasks.append(asyncio.ensure_future(self._visit(url)))

    async def _visit(self, url: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(url, allow_redirects=False) as resp:
                assert resp.status == 302
                location = resp.headers["Location"]
            if self.tamper_state:
                location = location.replace("state=", "state=forged")
            async with session.get(location) as resp:
                self.landed.append(resp.status)


def cli_env(fake: FakeBillabex, credentials: Path) -> dict[str, str]:
    """The environment for ``billabex`` against ``fake``, credentials kept in ``credentials``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABEX_")}
    env |= {
        "BILLABEX_BASE_URL": fake.url,
        "BILLABEX_CREDENTIALS": str(credentials),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return env


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run ``python -m billabex_async ARGS``: its exit code and its output, stderr included."""
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


async def play_browser(url: str) -> None:
    """Open ``url`` as the user would and approve: the login must land on its loopback page."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url, allow_redirects=False) as resp:
            location = resp.headers["Location"]
        async with session.get(location) as resp:
            assert resp.status == 200


async def sign_in(fake: FakeBillabex, browser: Browser | None = None) -> Credentials:
    """Log in to ``fake`` through ``browser``: credentials with a live refresh token."""
    browser = browser or Browser()
    try:
        return await login(
            fake.url,
            client_id=fake.oauth_client_id,
            client_secret=fake.oauth_client_secret,
            open_browser=browser.open,
            approval_timeout=10.0,
        )
    finally:
        await asyncio.gather(*browser.tasks)
