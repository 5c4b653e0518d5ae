"""Temporary stand-in for ClientPool (removed once the real one lands)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from billabex_async import BillabexClient, RateLimit, TokenProvider


class ClientPool:
    def __init__(
        self,
        credentials: Callable[[str], Awaitable[str | TokenProvider]],
        *,
        limiter: Any = None,
        idle_timeout: float = 300.0,
        max_connections: int = 100,
        **client_options: Any,
    ) -> None:
        self._credentials = credentials
        self._limiter = limiter
        self._options = client_options

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @contextlib.asynccontextmanager
    async def client(self, tenant: str) -> AsyncIterator[BillabexClient]:
        token = await self._credentials(tenant)
        lim = self._limiter(tenant)
        rate = RateLimit(lim.limit, lim.window, storage=lim.storage)
        async with BillabexClient(token, rate_limit=rate, **self._options) as client:
            yield client
