"""Client layer: ClientPool, one BillabexClient per tenant on one shared connector."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self

import attrs

from billabex_async._client import BillabexClient
from billabex_async._http import TokenProvider
from billabex_async._http._lease import close_limiter
from billabex_async._http._session import SharedSession
from billabex_async._ratelimit import Limiter
from billabex_async._types import SYSTEM_CLOCK, Clock
from billabex_async.errors import InvalidRequestError, PoolClosedError

__all__ = ["ClientPool", "PoolStats"]

logger = logging.getLogger("billabex_async")

DEFAULT_IDLE_TIMEOUT = 300.0  # seconds an unused client stays open
# What the pool decides itself: passing these through would break its promises.
_RESERVED = frozenset({"token", "session", "shared_session", "limiter", "max_connections"})
_CLIENT_OPTIONS = frozenset(inspect.signature(BillabexClient.__init__).parameters) - {"self"}

CredentialsFactory = Callable[[str], Awaitable[str | TokenProvider]]


@attrs.frozen
class PoolStats:
    """A snapshot of a pool: clients open now, in use now, opened and closed so far."""

    open: int
    in_use: int
    opened: int
    closed: int


def _retrieve(task: asyncio.Task[BillabexClient]) -> None:
    if not task.cancelled():
        task.exception()


class _Entry:
    """One tenant's client, and who uses it."""

    __slots__ = ("client", "idle_since", "limiter", "opening", "users")

    # ``opening``: done once the client is open (or failed to open).
    opening: asyncio.Task[BillabexClient]

    def __init__(self) -> None:
        self.client: BillabexClient | None = None
        self.limiter: Limiter | None = None  # from the pool's factory: the pool closes it
        self.users = 0
        self.idle_since: float | None = None


class ClientPool:
    """A ``BillabexClient`` per tenant, opened on first use, on one shared connector.

    ::

        async def credentials(tenant: str) -> str | TokenProvider:
            return await OAuthTokenProvider.from_async_store(RedisTokenStore(redis, key=tenant))

        async with ClientPool(credentials, base_url=url) as pool:
            async with pool.client("tenant-a") as client:
                await client.contacts.upsert(account_id, full_name="Ada", language="en")

    ``credentials(tenant)`` gives the tenant's access token or
    ``TokenProvider``; it is awaited once per opening of that tenant's client,
    however many tasks ask at once (they all get the one client). ``limiter``
    (``tenant -> Limiter``), when given, is called at the same moment and the
    pool closes what it returns when that client closes (return a new one
    each time); without it each client builds its own from ``rate_limit``.
    Every client keeps its own token, limiter and retry state; they share one
    ``SharedSession`` of ``max_connections`` sockets, opened with the first
    client. A client nobody has used for ``idle_timeout`` seconds (of
    ``clock``, the ``clock`` client option when given) is closed; the next
    ``client()`` for its tenant opens a new one. ``client_options`` go to
    every ``BillabexClient`` (``base_url``, ``rate_limit``, ``max_retries``,
    ``timeout``...). ``aclose()`` (or leaving ``async with``) closes every
    client, then the shared session; calls in flight then fail with
    ``ClientClosedError``, and ``client()`` raises ``PoolClosedError``.
    """

    def __init__(
        self,
        credentials: CredentialsFactory,
        *,
        limiter: Callable[[str], Limiter] | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = 100,
        **client_options: Any,
    ) -> None:
        if not callable(credentials):
            raise InvalidRequestError("credentials must be a callable", field="credentials")
        if limiter is not None and not callable(limiter):
            raise InvalidRequestError("limiter must be a callable or None", field="limiter")
        if isinstance(idle_timeout, bool) or not isinstance(idle_timeout, int | float):
            raise InvalidRequestError("idle_timeout must be a number", field="idle_timeout")
        if not idle_timeout > 0:
            raise InvalidRequestError("idle_timeout must be > 0 seconds", field="idle_timeout")
        for name in client_options:
            if name in _RESERVED:
                raise InvalidRequestError(f"{name} is decided by the pool", field=name)
            if name not in _CLIENT_OPTIONS:
                raise InvalidRequestError(f"unknown client option {name!r}", field=name)
        self._shared = SharedSession(max_connections)
        self._credentials = credentials
        self._limiter = limiter
        self._idle_timeout = float(idle_timeout)
        self._options = client_options
        clock: Clock | None = client_options.get("clock")
        self._clock = clock or SYSTEM_CLOCK
        self._entries: dict[str, _Entry] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        self._opened = 0
        self._closed_count = 0

    def __repr__(self) -> str:
        s = self.stats
        state = "closed" if self._closed else "open"
        return f"<ClientPool {state} clients={s.open} in_use={s.in_use} opened={s.opened}>"

    @property
    def stats(self) -> PoolStats:
        """Clients open now, in use now, and opened and closed since the pool was made."""
        ready = [e for e in self._entries.values() if e.client is not None]
        return PoolStats(
            open=len(ready),
            in_use=sum(1 for e in ready if e.users),
            opened=self._opened,
            closed=self._closed_count,
        )

    @property
    def shared_session(self) -> SharedSession:
        """The one session (and connector) every client of the pool sends through."""
        return self._shared

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` ran."""
        return self._closed

    async def __aenter__(self) -> Self:
        self._check()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _check(self) -> None:
        if self._closed:
            raise PoolClosedError("this ClientPool is closed")

    def client(self, tenant: str) -> AbstractAsyncContextManager[BillabexClient]:
        """``async with pool.client(tenant) as client``: that tenant's client, while in use.

        Raises ``InvalidRequestError`` for an empty tenant, ``PoolClosedError``
        once the pool is closed, and whatever ``credentials`` or the client's
        construction raised (the next call tries again).
        """
        if not isinstance(tenant, str) or not tenant:
            raise InvalidRequestError("tenant must be a non-empty string", field="tenant")
        self._check()
        return self._use(tenant)

    @contextlib.asynccontextmanager
    async def _use(self, tenant: str) -> AsyncIterator[BillabexClient]:
        self._check()  # closed between client() and entering it
        entry = self._entries.get(tenant)
        if entry is None:
            entry = self._entries[tenant] = _Entry()
            entry.opening = asyncio.get_running_loop().create_task(
                self._open(tenant, entry), name=f"billabex-async pool open {tenant}"
            )
            # Its error is every waiter's; retrieved here so that one nobody
            # waits for any more (all cancelled) is not logged as lost.
            entry.opening.add_done_callback(_retrieve)
        entry.users += 1
        try:
            # Shielded: one waiter cancelled must not cancel the opening the
            # others wait for.
            client = await asyncio.shield(entry.opening)
        except BaseException:
            entry.users -= 1
            raise
        try:
            yield client
        finally:
            entry.users -= 1
            if entry.users == 0 and self._entries.get(tenant) is entry:
                entry.idle_since = self._clock.time()
                self._wake_reaper()

    async def _open(self, tenant: str, entry: _Entry) -> BillabexClient:
        try:
            token = await self._credentials(tenant)
            self._check()
            limiter = self._limiter(tenant) if self._limiter is not None else None
            try:
                client = BillabexClient(
                    token, shared_session=self._shared, limiter=limiter, **self._options
                )
                await client.__aenter__()
            except BaseException:
                await close_limiter(limiter)
                raise
        except BaseException:
            # A failed opening is forgotten: the next client() tries again.
            if self._entries.get(tenant) is entry:
                del self._entries[tenant]
            raise
        entry.client, entry.limiter = client, limiter
        self._opened += 1
        if entry.users == 0:  # every waiter gave up: idle from now
            entry.idle_since = self._clock.time()
            self._wake_reaper()
        logger.debug("client pool: opened a client (%d open)", self.stats.open)
        return client

    def _wake_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(
                self._reap(), name="billabex-async pool reaper"
            )

    async def _reap(self) -> None:
        """Close idle clients as their time comes; ends when none is idle."""
        while not self._closed:
            now = self._clock.time()
            due: list[tuple[str, _Entry]] = []
            next_at: float | None = None
            for tenant, entry in self._entries.items():
                if entry.users or entry.client is None or entry.idle_since is None:
                    continue
                at = entry.idle_since + self._idle_timeout
                if at <= now:
                    due.append((tenant, entry))
                elif next_at is None or at < next_at:
                    next_at = at
            for tenant, entry in due:
                del self._entries[tenant]  # first: a new client() opens a fresh one
                try:
                    await self._close_entry(entry)
                except Exception:  # one client's failed close must not stop the others'
                    logger.exception("client pool: closing an idle client failed")
            if next_at is None:
                return
            await self._clock.sleep(next_at - now)

    async def _close_entry(self, entry: _Entry) -> None:
        client, entry.client = entry.client, None
        if client is None:
            return
        try:
            await client.close()
        finally:
            await close_limiter(entry.limiter)
            self._closed_count += 1

    async def aclose(self) -> None:
        """Close every client (in use or not), then the shared session; idempotent."""
        self._closed = True
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.opening.cancel()  # a no-op once it is done
            await asyncio.wait([entry.opening])  # its error, if any, is its waiters'
            await self._close_entry(entry)
        await self._shared.close()

    async def close(self) -> None:
        """The same as ``aclose()``, named like ``BillabexClient.close``."""
        await self.aclose()
