"""Bench support: a throwaway redis-server on a unix socket, for the shared-limiter section.

A unix socket in a fresh temporary directory needs no free TCP port, and
the server's own "ready to accept connections" log line says when it
answers: no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["find_binary", "redis_server"]

READY = b"ready to accept connections"
"""In the line the server logs once it answers, whatever the case (versions differ)."""
STARTUP_TIMEOUT = 10.0  # seconds for a fresh server to log READY


def find_binary() -> str | None:
    """``$REDIS_SERVER`` when set (even if wrong: an explicit choice wins), else the PATH's."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("redis-server")


async def _ready(stdout: asyncio.StreamReader) -> None:
    while True:
        line = await stdout.readline()
        if not line:
            raise RuntimeError("redis-server exited before it was ready")
        if READY in line.lower():
            return


@contextlib.asynccontextmanager
async def redis_server(binary: str) -> AsyncIterator[str]:
    """Run ``binary`` without persistence or TCP; yields its ``unix://`` storage URL."""
    with tempfile.TemporaryDirectory(prefix="billabex-bench-redis-") as workdir:
        socket = Path(workdir) / "redis.sock"
        proc = await asyncio.create_subprocess_exec(
            binary,
            *("--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700"),
            *("--save", "", "--appendonly", "no", "--dir", workdir, "--logfile", ""),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            await asyncio.wait_for(_ready(proc.stdout), STARTUP_TIMEOUT)
            # Keep reading its log, or a chatty server would block on a full pipe.
            drain = asyncio.create_task(proc.stdout.read())
            yield f"unix://{socket}"
        finally:
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()
        await drain
