"""Transport layer: the aiohttp session and timeouts the client owns."""

from __future__ import annotations

import aiohttp

__all__ = ["new_session", "timeouts"]


def new_session(
    max_connections: int, *, proxy: str | None = None, trust_env: bool = True
) -> aiohttp.ClientSession:
    """A pooled session; call inside the running loop (aiohttp requires it).

    ``trust_env`` reads ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (and the
    rest of what aiohttp reads from the environment); ``proxy`` names one
    explicitly and wins over the environment.
    """
    connector = aiohttp.TCPConnector(limit=max_connections)
    return aiohttp.ClientSession(connector=connector, trust_env=trust_env, proxy=proxy)


def timeouts(total: float, connect: float) -> aiohttp.ClientTimeout:
    """Per-attempt timeouts. aiohttp's ``ClientTimeout()`` means none at all."""
    return aiohttp.ClientTimeout(total=total, connect=min(connect, total))
