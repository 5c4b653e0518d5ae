"""Example helper: a throwaway redis-server on 127.0.0.1 for examples/fleet_demo.py.

A free TCP port, no persistence, files in a temporary folder; the server's
own "ready to accept connections" line says when it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator

__all__ = ["redis_server"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[str]:
    """A throwaway redis-server on 127.0.0.1 (no persistence); yields its URL."""
    binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if binary is None:
        raise SystemExit(
            "redis-server not found: apt-get install redis-server (or set REDIS_SERVER)"
        )
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="billabex-fleet-redis-") as workdir:
        proc = await asyncio.create_subprocess_exec(
            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", workdir),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(10):
                while b"ready to accept connections" not in (await proc.stdout.readline()).lower():
                    if proc.stdout.at_eof():
                        raise SystemExit("redis-server exited on start")
            drain = asyncio.create_task(proc.stdout.read())  # a full pipe would block it
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()
        await drain
