"""Bench support: the simulator in its own process, and reading its contacts back over HTTP.

Every section that wants the server off its own event loop starts it here.
Run in a subprocess, the server gets its own interpreter (and core), so its
CPU does not compete with the client under test in one event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from bench import BENCH, baseline, procfs

__all__ = ["API", "SimProcess", "Target", "list_emails", "list_pages", "pin_self"]

API = "/api/public/v1"
STANDALONE = "billabex_async.testing"
"""The package's own ``python -m`` server: what a user runs, so what we measure."""
_STARTUP_TIMEOUT = 120.0  # seconds; seeding 100,000 contacts comes first
_STOP_TIMEOUT = 30.0
_STOPPED = re.compile(r"stopped after (\d+) requests \((\d+) 429s\)")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a contender sends its upserts."""

    url: str
    """Host root; the API lives under /api/public/v1."""
    token: str
    account_id: str


class SimProcess:
    """A simulator server on a free port in a subprocess, stopped (SIGTERM) on exit.

    Usage::

        async with SimProcess(latency=0.002) as sim:
            ...  # sim.target.url, .token, .account_id; sim.cpu_seconds()
        sim.requests  # every request the server saw, from its own count

    ``module`` is run with ``python -m`` and this class's options; it prints
    ``url:``, ``token:`` and ``account_id:`` lines when ready and its
    "stopped after" line on SIGTERM (``billabex_async.testing`` does;
    ``output`` keeps whatever it prints after the banner). ``root`` picks the
    package (``bench.baseline``; None: this checkout's), ``cpus`` pins the
    server, ``profile`` runs it under cProfile into that file.
    """

    def __init__(
        self,
        *,
        rate_limit: str = "none",
        latency: float = 0.0,
        jitter: float = 0.0,
        seed: int = 1,
        seed_contacts: int = 0,
        module: str = STANDALONE,
        root: Path | None = None,
        cpus: set[int] | None = None,
        profile: Path | None = None,
    ) -> None:
        profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
        self._argv = [
            *profiler,
            "-m",
            module,
            "--port=0",
            f"--rate-limit={rate_limit}",
            f"--latency={latency}",
            f"--jitter={jitter}",
            f"--seed={seed}",
            f"--seed-contacts={seed_contacts}",
        ]
        self._root = root
        self._cpus = cpus
        self._proc: asyncio.subprocess.Process | None = None
        self._target: Target | None = None
        self.pinned = "not pinned"
        self.requests = 0
        self.rate_limited = 0
        self.output = ""

    @property
    def target(self) -> Target:
        if self._target is None:
            raise RuntimeError("the simulator is not running")
        return self._target

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the simulator is not running")
        return self._proc.pid

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's process has used so far; 0 if unknown."""
        if self._proc is None:
            return 0.0
        return procfs.cpu_seconds(self._proc.pid) or 0.0

    async def __aenter__(self) -> Self:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self._argv,
            stdout=asyncio.subprocess.PIPE,
            env=baseline.env(self._root),
            cwd=BENCH,  # not the checkout's root, whose package would shadow ``root``'s
        )
        try:
            self.pinned = _pin(self._proc.pid, self._cpus)
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
        proc.send_signal(signal.SIGTERM)  # the server stops cleanly and prints its counts
        try:
            out = await asyncio.wait_for(proc.stdout.read(), _STOP_TIMEOUT)
            await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        self.output = out.decode()
        match = _STOPPED.search(self.output)
        if match:
            self.requests, self.rate_limited = int(match[1]), int(match[2])


def _pin(pid: int, cpus: set[int] | None) -> str:
    """Pin ``pid`` to ``cpus`` when asked and the OS allows it; say what happened."""
    if cpus is None:
        return "not pinned"
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    chosen = (cpus & os.sched_getaffinity(pid)) or os.sched_getaffinity(pid)
    os.sched_setaffinity(pid, chosen)
    return f"pinned to cpus {sorted(chosen)}"


def pin_self(cpus: set[int]) -> str:
    """Pin this process to ``cpus`` (or all it may use, when none of them); say what happened."""
    return _pin(os.getpid(), cpus)


async def list_emails(target: Target, *, page_size: int = 100) -> tuple[list[str | None], int]:
    """Every stored contact's email, read with plain GETs; also the number of GETs sent."""
    emails: list[str | None] = []
    pages = 0
    async for nodes in list_pages(target, page_size=page_size):
        pages += 1
        for node in nodes:
            email = node.get("email")
            emails.append(email["address"] if email else None)
    return emails, pages


async def list_pages(
    target: Target, *, page_size: int = 100
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of the account's contacts as JSON nodes, read with plain GETs."""
    url = f"{target.url}{API}/accounts/{target.account_id}/contacts"
    headers = {"Authorization": f"Bearer {target.token}"}
    after: str | None = None
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            params = {"first": str(page_size)} | ({"after": after} if after else {})
            async with session.get(url, params=params) as response:
                response.raise_for_status()
                page = await response.json()
            nodes: list[dict[str, Any]] = page["nodes"]
            yield nodes
            after = (page.get("pageInfo") or {}).get("endCursor")
            if not nodes or not after:
                return
