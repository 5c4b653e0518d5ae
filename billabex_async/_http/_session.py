"""Transport layer: the aiohttp session (its own or the caller's), and the timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import aiohttp

from billabex_async.errors import ClientClosedError, WrongEventLoopError

__all__ = ["Sessions", "new_session", "timeouts"]

logger = logging.getLogger("billabex_async")


def new_session(
    max_connections: int,
    *,
    proxy: str | None = None,
    trust_env: bool = True,
    middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
) -> aiohttp.ClientSession:
    """A pooled session; call inside the running loop (aiohttp requires it).

    ``trust_env`` reads ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (and the
    rest of what aiohttp reads from the environment); ``proxy`` names one
    explicitly and wins over the environment.
    """
    connector = aiohttp.TCPConnector(limit=max_connections)
    return aiohttp.ClientSession(
        connector=connector, trust_env=trust_env, proxy=proxy, middlewares=middlewares
    )


def timeouts(total: float, connect: float) -> aiohttp.ClientTimeout:
    """Per-attempt timeouts. aiohttp's ``ClientTimeout()`` means none at all."""
    return aiohttp.ClientTimeout(total=total, connect=min(connect, total))


_BY_USER = "close() was called"


class Sessions:
    """The session requests go through, and whether they may still be sent.

    An own session is opened lazily inside the running loop, with
    ``middlewares``, and closed by ``close()``; a caller's session is used as
    it is (its own middlewares run), never closed. Everything belongs
    to the event loop that first used it: another loop gets
    ``WrongEventLoopError`` before anything is touched. An own session is also
    closed when its loop shuts down (``asyncio.run`` cancels every task at the
    end, so a small watcher task closes it), so a client never closed by its
    user leaks no socket and no "Unclosed client session" warning.
    """

    __slots__ = (
        "_closed",
        "_loop",
        "_max_connections",
        "_middlewares",
        "_owned",
        "_proxy",
        "_session",
        "_trust_env",
        "_watcher",
    )

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        max_connections: int,
        *,
        proxy: str | None = None,
        trust_env: bool = True,
        middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
    ) -> None:
        self._session = session
        self._owned = session is None
        self._max_connections = max_connections
        self._proxy = proxy
        self._trust_env = trust_env
        self._middlewares = tuple(middlewares)
        self._closed: str | None = None  # why it is closed, once it is
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran (or the own session's loop shut down)."""
        return self._closed is not None

    def check(self) -> None:
        """Raise ``ClientClosedError`` or ``WrongEventLoopError`` if nothing may be sent.

        A client its user closed says so, whatever the loop; one whose loop
        ended without a ``close()`` says that it belongs to another loop.
        """
        if self._closed == _BY_USER:
            raise ClientClosedError("this BillabexClient is closed")
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            raise WrongEventLoopError(
                "this BillabexClient belongs to another event loop (one that may have "
                "ended); create one client inside each asyncio.run"
            )
        if self._closed is not None:
            raise ClientClosedError(f"this BillabexClient is closed: {self._closed}")

    def get(self) -> aiohttp.ClientSession:
        """The session to send on, opened on first use; raises like ``check``."""
        self.check()
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._session is None:
            self._session = new_session(
                self._max_connections,
                proxy=self._proxy,
                trust_env=self._trust_env,
                middlewares=self._middlewares,
            )
            self._watcher = self._loop.create_task(
                self._close_with_loop(self._session), name="billabex-async session watcher"
            )
        return self._session

    async def _close_with_loop(self, session: aiohttp.ClientSession) -> None:
        try:
            await asyncio.Event().wait()  # until cancelled: by close() or the loop's shutdown
        finally:
            if not session.closed:
                logger.debug("event loop shutting down: closing the client's session")
                self._closed = self._closed or "its event loop shut down"
                await session.close()

    async def close(self) -> None:
        """No more requests; close the session if it is our own. Idempotent."""
        self._closed = _BY_USER
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            # Not ours to close from here: the watcher closes it as its loop ends.
            self._session = self._watcher = None
            return
        session, self._session = self._session, None
        watcher, self._watcher = self._watcher, None
        if self._owned and session is not None:
            await session.close()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
