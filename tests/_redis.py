"""Test helper: a throwaway redis-server on 127.0.0.1, for the shared-limiter tests and bench."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["closed_port_url", "find_redis_server", "free_port", "redis_server", "redis_url_or_skip"]

# Where Debian, Homebrew and source installs put the binary when PATH does not.
_CANDIDATES = ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server")
STARTUP_TIMEOUT = 10.0  # seconds for a fresh server to answer PING


def find_redis_server() -> str | None:
    """Path of a redis-server binary ($REDIS_SERVER, PATH, usual places), or None."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit:  # an explicit choice wins, even when it is wrong
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("redis-server")
    if found:
        return found
    return next((path for path in _CANDIDATES if os.access(path, os.X_OK)), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port_url() -> str:
    """A redis URL on 127.0.0.1 where connections are refused."""
    return f"redis://127.0.0.1:{free_port()}/0"


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(binary: str, port: int | None = None) -> Iterator[str]:
    """Run ``binary`` on 127.0.0.1 without persistence; yields its ``redis://`` URL."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="billabex-redis-") as workdir:
        # No persistence, loopback only, files (none expected) in a temp dir.
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", workdir]
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not _answers_ping(port):
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {proc.returncode} on start")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer PING in {STARTUP_TIMEOUT}s")
                time.sleep(0.02)  # startup poll: the server is a separate process
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def redis_url_or_skip() -> Iterator[str]:
    """A fixture body: a fresh redis-server's URL for the fixture's scope; skips without one."""
    import pytest  # only tests call this; bench imports this module too

    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found (PATH, $REDIS_SERVER): apt-get install redis-server")
    with redis_server(binary) as url:
        yield url
