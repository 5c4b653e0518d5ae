"""Transport layer: the async token store many processes share, and the sync stores in its shape.

A store that several processes read (Redis, or one file that two CLIs use)
has two duties a single process never needed: a refresh lock, so one
process refreshes while the others wait and then read its tokens, and a
re-read after a lost rotation race (``invalid_grant``: another process spent
the refresh token first). ``OAuthTokenProvider`` does the re-reading; the
store gives the lock. The sync ``TokenStore`` keeps working through
``as_async_store``, with no lock: its re-read is the only guard.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from billabex_async.auth._store import Credentials, TokenStore

__all__ = ["AsyncTokenStore", "as_async_store"]


@runtime_checkable
class AsyncTokenStore(Protocol):
    """Credentials shared by processes; ``RedisTokenStore`` is one.

    ``load`` returns the stored credentials (None when there are none) and
    raises ``AuthRefreshError`` when they cannot be read; ``save`` replaces
    them; ``clear`` removes them. ``refresh_lock()`` is an async context
    manager held across one refresh (load, token request, save): while one
    process holds it, the others' wait, so one refresh token is spent once.
    It may lapse (a lease) if its holder dies; the re-read covers that case.
    """

    async def load(self) -> Credentials | None:
        """The stored credentials, or None; ``AuthRefreshError`` when unreadable."""
        ...

    async def save(self, credentials: Credentials) -> None:
        """Replace the stored credentials with ``credentials`` (a rotated set must not be lost)."""
        ...

    async def clear(self) -> None:
        """Remove the stored credentials."""
        ...

    def refresh_lock(self) -> AbstractAsyncContextManager[None]:
        """A lock held across one refresh, so processes spend a refresh token once."""
        ...


class _SyncStoreAdapter:
    """A sync ``TokenStore`` seen as an ``AsyncTokenStore`` with no lock."""

    __slots__ = ("store",)

    def __init__(self, store: TokenStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"<async view of {self.store!r}>"

    async def load(self) -> Credentials | None:
        return self.store.load()

    async def save(self, credentials: Credentials) -> None:
        self.store.save(credentials)

    async def clear(self) -> None:
        self.store.clear()

    def refresh_lock(self) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()


def as_async_store(store: TokenStore | AsyncTokenStore) -> AsyncTokenStore:
    """``store`` itself when it is async, else a lock-free async view of the sync one."""
    if isinstance(store, AsyncTokenStore):
        return store
    return _SyncStoreAdapter(store)
