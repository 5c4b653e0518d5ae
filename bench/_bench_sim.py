"""The simulator in its own process, and reading its contacts back over HTTP.

Run in a subprocess, the server gets its own interpreter (and core), so its
CPU does not compete with the client under test in one event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import aiohttp

__all__ = ["SimProcess", "Target", "list_emails"]

API = "/api/public/v1"
_STARTUP_TIMEOUT = 120.0  # seconds; seeding 100,000 contacts comes first
_STOPPED = re.compile(r"stopped after (\d+) requests \((\d+) 429s\)")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a contender sends its upserts."""

    url: str
    """Host root; the API lives under /api/public/v1."""
    token: str
    account_id: str


class SimProcess:
    """``python -m billabex_async.testing`` on a free port, stopped on exit.

    Usage::

        async with SimProcess(latency=0.002) as sim:
            ...  # sim.target.url, .token, .account_id
        sim.requests  # every request the server saw, from its own count
    """

    def __init__(
        self,
        *,
        rate_limit: str = "none",
        latency: float = 0.0,
        jitter: float = 0.0,
        seed: int = 1,
        seed_contacts: int = 0,
    ) -> None:
        self._args = [
            "--port=0",
            f"--rate-limit={rate_limit}",
            f"--latency={latency}",
            f"--jitter={jitter}",
            f"--seed={seed}",
            f"--seed-contacts={seed_contacts}",
        ]
        self._proc: asyncio.subprocess.Process | None = None
        self._target: Target | None = None
        self.requests = 0
        self.rate_limited = 0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the simulator's process has used so far; 0 if unknown."""
        if self._proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # not Linux
            return 0.0
        # utime and stime, fields 14 and 15 of stat(5), counted after the ")".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def target(self) -> Target:
        if self._target is None:
            raise RuntimeError("the simulator is not running")
        return self._target

    async def __aenter__(self) -> Self:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "billabex_async.testing",
            *self._args,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            fields = await asyncio.wait_for(self._read_banner(), _STARTUP_TIMEOUT)
        except BaseException:
            self._proc.kill()
            await self._proc.wait()
            raise
        self._target = Target(fields["url"], fields["token"], fields["account_id"])
        return self

    async def _read_banner(self) -> dict[str, str]:
        assert self._proc is not None
        assert self._proc.stdout is not None
        fields: dict[str, str] = {}
        while len(fields) < 3:
            line = (await self._proc.stdout.readline()).decode()
            if not line:
                raise RuntimeError("the simulator exited before it was ready")
            key, _, value = line.partition(": ")
            fields[key.strip()] = value.strip()
        return fields

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.stdout is None:
            return
        proc.send_signal(signal.SIGTERM)
        out = await proc.stdout.read()
        await proc.wait()
        match = _STOPPED.search(out.decode())
        if match:
            self.requests, self.rate_limited = int(match[1]), int(match[2])


async def list_emails(target: Target, *, page_size: int = 100) -> tuple[list[str | None], int]:
    """Every stored contact's email, read with plain GETs; also the number of GETs sent."""
    emails: list[str | None] = []
    url = f"{target.url}{API}/accounts/{target.account_id}/contacts"
    headers = {"Authorization": f"Bearer {target.token}"}
    after: str | None = None
    pages = 0
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            params = {"first": str(page_size)} | ({"after": after} if after else {})
            async with session.get(url, params=params) as response:
                response.raise_for_status()
                page = await response.json()
            pages += 1
            nodes = page["nodes"]
            for node in nodes:
                email = node.get("email")
                emails.append(email["address"] if email else None)
            after = (page.get("pageInfo") or {}).get("endCursor")
            if not nodes or not after:
                return emails, pages
