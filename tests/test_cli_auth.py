"""`billabex login`, `whoami`, `logout`, and the other commands using stored credentials."""

from __future__ import annotations

import asyncio
import stat
import sys
from pathlib import Path

from billabex_async.testing import FakeBillabex

from ._login import cli_env, play_browser, run_cli


async def test_login_stores_credentials_that_other_commands_use(tmp_path: Path) -> None:
    credentials = tmp_path / "billabex" / "credentials.json"
    async with FakeBillabex(rate_limit=None) as fake:
        env = cli_env(fake, credentials)
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
            await play_browser(line.strip())
            rest = (await process.stderr.read()).decode()
            assert await process.wait() == 0, rest
        assert "credentials saved" in rest
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600

        code, status = await run_cli(env, "whoami")
        assert code == 0, status
        assert fake.oauth_client_id in status
        assert "present" in status
        stored = credentials.read_text()
        for line in status.splitlines():
            assert "bbx_" not in line  # no token value is ever shown
        assert "bbx_refresh_" in stored

        fake.add_contact(fake.account_id, full_name="Ada Lovelace", language="en")
        code, listing = await run_cli(env, "contacts", "list", fake.account_id, "--json")
        assert code == 0, listing
        assert "Ada Lovelace" in listing

        code, _ = await run_cli(env, "logout")
        assert code == 0
        assert not credentials.exists()
        code, message = await run_cli(env, "contacts", "list", fake.account_id)
        assert code == 2
        assert "billabex login" in message
