"""Transport layer: the aiohttp session and timeouts the client owns."""

from __future__ import annotations

import aiohttp

__all__ = ["new_session", "timeouts"]


def new_session(max_connections: int) -> aiohttp.ClientSession:
    """A pooled session; call inside the running loop (aiohttp requires it)."""
    connector = aiohttp.TCPConnector(limit=max_connections)
    return aiohttp.ClientSession(connector=connector)


def timeouts(total: float, connect: float) -> aiohttp.ClientTimeout:
    """Per-attempt timeouts. aiohttp's ``ClientTimeout()`` means none at all."""
    return aiohttp.ClientTimeout(total=total, connect=min(connect, total))
