"""Transport layer: the aiohttp session (own, shared or the caller's), and the timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Self

import aiohttp

from billabex_async._http._lease import count_sends
from billabex_async.errors import ClientClosedError, InvalidRequestError, WrongEventLoopError

__all__ = ["Sessions", "SharedSession", "new_session", "timeouts"]

logger = logging.getLogger("billabex_async")


def new_session(
    max_connections: int,
    *,
    proxy: str | None = None,
    middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
) -> aiohttp.ClientSession:
    """A pooled session through ``proxy`` (or none); call inside the running loop.

    Never ``trust_env``: the client resolves the environment's proxy once
    (``_proxy.env_proxy``), and aiohttp would otherwise read ``~/.netrc`` for
    every request and turn an entry into credentials that clash with the bearer.
    """
    connector = aiohttp.TCPConnector(limit=max_connections)
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, proxy=proxy, middlewares=middlewares
    )


async def _close_with_loop(cleanup: Callable[[], Awaitable[None]]) -> None:
    """Wait until cancelled (by a close, or ``asyncio.run`` ending the loop), then clean up."""
    try:
        await asyncio.Event().wait()
    finally:
        await cleanup()


def timeouts(total: float, connect: float) -> aiohttp.ClientTimeout:
    """Per-attempt timeouts. aiohttp's ``ClientTimeout()`` means none at all."""
    return aiohttp.ClientTimeout(total=total, connect=min(connect, total))


_BY_USER = "close() was called"


class Sessions:
    """The session requests go through, and whether they may still be sent.

    An own session is opened lazily inside the running loop, with
    ``middlewares``, and closed by ``close()``; a caller's session is used as
    it is (its own middlewares run), never closed; a ``SharedSession`` gives
    the session for this client's proxy settings and is never closed here
    either. Everything belongs
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
        "_shared",
        "_watcher",
    )

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        max_connections: int,
        *,
        proxy: str | None = None,
        middlewares: Sequence[aiohttp.ClientMiddlewareType] = (),
        shared: SharedSession | None = None,
    ) -> None:
        self._session = session
        self._shared = shared
        self._owned = session is None and shared is None
        self._max_connections = max_connections
        self._proxy = proxy
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
        if self._shared is not None:
            self._shared.check()

    def get(self) -> aiohttp.ClientSession:
        """The session to send on, opened on first use; raises like ``check``."""
        self.check()
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._session is None and self._shared is not None:
            self._session = self._shared.session(proxy=self._proxy)
        elif self._session is None:
            self._session = new_session(
                self._max_connections,
                proxy=self._proxy,
                middlewares=self._middlewares,
            )
            self._watcher = self._loop.create_task(
                _close_with_loop(functools.partial(self._shutdown, self._session)),
                name="billabex-async session watcher",
            )
        return self._session

    async def _shutdown(self, session: aiohttp.ClientSession) -> None:
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


class SharedSession:
    """One aiohttp connector that many clients send through (one per tenant, say).

    ::

        async with SharedSession(max_connections=100) as shared:
            a = BillabexClient(token_a, shared_session=shared)
            b = BillabexClient(token_b, shared_session=shared)

    Each client keeps its own token, limiter and retry state; only sockets
    are shared, at most ``max_connections`` at once over every client.
    Closing a client never closes this; ``close()`` does (and the clients on
    it then raise ``ClientClosedError``). The connector opens on first use,
    inside the running loop, and belongs to that loop (another loop gets
    ``WrongEventLoopError``); if nobody closes it, it closes as its loop shuts
    down. Clients with different proxy settings get an aiohttp session each,
    all on the one connector, every one with the SDK's own middleware (so
    aiohttp's hidden resends are counted against each client's limiter).
    """

    __slots__ = ("_closed", "_connector", "_loop", "_max_connections", "_sessions", "_watcher")

    def __init__(self, max_connections: int = 100) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int):
            raise InvalidRequestError("max_connections must be an integer", field="max_connections")
        if max_connections < 1:
            raise InvalidRequestError("max_connections must be >= 1", field="max_connections")
        self._max_connections = max_connections
        self._connector: aiohttp.TCPConnector | None = None
        # proxy URL (or None) -> the session of the clients that use it.
        self._sessions: dict[str | None, aiohttp.ClientSession] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._connector else "not opened"
        return (
            f"<SharedSession {state} max_connections={self._max_connections} "
            f"sessions={len(self._sessions)}>"
        )

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran (or the loop that opened it shut down)."""
        return self._closed

    @property
    def connector(self) -> aiohttp.BaseConnector | None:
        """The one connector every client's requests go through (None until first use)."""
        return self._connector

    @property
    def max_connections(self) -> int:
        """The most sockets open at once, over every client."""
        return self._max_connections

    def check(self) -> None:
        """Raise ``ClientClosedError`` once closed, ``WrongEventLoopError`` from another loop."""
        if self._closed:
            raise ClientClosedError("the SharedSession this client sends through is closed")
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            raise WrongEventLoopError(
                "this SharedSession belongs to another event loop; create one inside each "
                "asyncio.run"
            )

    def session(self, *, proxy: str | None) -> aiohttp.ClientSession:
        """The session for clients that use this proxy, opened on first use.

        Args:
            proxy: The client's proxy URL (explicit or from the environment), or None.
        """
        self.check()
        session = self._sessions.get(proxy)
        if session is not None:
            return session
        if self._connector is None:
            self._loop = asyncio.get_running_loop()
            self._connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._watcher = self._loop.create_task(
                _close_with_loop(self._shutdown), name="billabex-async shared session watcher"
            )
        session = self._sessions[proxy] = aiohttp.ClientSession(
            connector=self._connector,
            connector_owner=False,  # closed here, once, after every session on it
            trust_env=False,  # as in new_session: no netrc, the proxy is resolved once
            proxy=proxy,
            middlewares=(count_sends(),),
        )
        return session

    async def _shutdown(self) -> None:
        if self._connector is None:  # close() ran in this loop
            return
        logger.debug("event loop shutting down: closing the shared session")
        await self._close_all()

    async def _close_all(self) -> None:
        self._closed = True
        sessions, self._sessions = list(self._sessions.values()), {}
        connector, self._connector = self._connector, None
        for session in sessions:
            await session.close()
        if connector is not None:
            await connector.close()

    async def close(self) -> None:
        """Close every session and the connector; idempotent."""
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            # Not ours to close from here: the watcher closes it as its loop ends.
            self._closed = True
            return
        await self._close_all()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def __aenter__(self) -> Self:
        self.check()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
