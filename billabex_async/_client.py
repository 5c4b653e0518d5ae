"""Client layer: BillabexClient builds the stack (session, auth, limiter, transport)."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Self
from uuid import UUID

from yarl import URL

from billabex_async import bulk, sync
from billabex_async._http import (
    Limiter,
    RequestEvent,
    TokenProvider,
    TokenSource,
    Transport,
    shared_memory_limiter,
)
from billabex_async._http._retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BUDGET, MAX_RETRY_AFTER
from billabex_async._http._session import new_session, timeouts
from billabex_async._types import RateLimit, redact_url
from billabex_async._version import __version__
from billabex_async.errors import InvalidRequestError
from billabex_async.models import ContactUpsert
from billabex_async.resources import ContactsResource

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "BillabexClient", "Contacts"]

DEFAULT_BASE_URL = "https://next.billabex.com"
API_PREFIX = "api/public/v1"
DEFAULT_TIMEOUT = 30.0  # seconds per attempt; aiohttp's own default is no limit at all
DEFAULT_CONNECT_TIMEOUT = 10.0
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

ProgressCallback = Callable[[int, int | None], None]


def _api_url(base_url: str) -> URL:
    url = URL(base_url.rstrip("/"))
    if url.scheme not in ("https", "http") or not url.host:
        raise InvalidRequestError(f"base_url must be an http(s) URL, got {base_url!r}")
    if url.scheme == "http" and url.host not in _LOOPBACK_HOSTS:
        raise InvalidRequestError(
            f"base_url must use https (plain http is accepted only for localhost), got {base_url!r}"
        )
    if url.path.rstrip("/").endswith(API_PREFIX):
        return url
    return url / API_PREFIX


class Contacts(ContactsResource):
    """``client.contacts``: the single-contact verbs plus bulk upsert and sync."""

    __slots__ = ()

    async def bulk_upsert(
        self,
        account_id: str | UUID,
        contacts: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
        *,
        concurrency: int = bulk.DEFAULT_CONCURRENCY,
        on_progress: ProgressCallback | None = None,
        report: bulk.BulkReport | None = None,
    ) -> bulk.BulkReport:
        """Upsert many contacts of one account, as fast as the rate limit allows.

        ``contacts`` is consumed lazily, so memory stays bounded. Returns what
        happened to each item; per-item failures are reported, not raised. A
        401, 403 or 404 on the account stops the run early (``report.error``).
        Pass your own ``report`` to keep the partial one if the call is
        cancelled. See ``billabex_async.bulk.bulk_upsert_account``.
        """
        return await bulk.bulk_upsert_account(
            self,
            account_id,
            contacts,
            concurrency=concurrency,
            on_progress=on_progress,
            report=report,
        )

    def bulk_upsert_iter(
        self,
        account_id: str | UUID,
        contacts: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
        *,
        concurrency: int = bulk.DEFAULT_CONCURRENCY,
        report: bulk.BulkReport | None = None,
    ) -> AsyncGenerator[bulk.BulkOutcome, None]:
        """``bulk_upsert``, yielding each item's outcome as it completes (to persist progress)."""
        return bulk.iter_upsert(self, account_id, contacts, concurrency=concurrency, report=report)

    async def sync(
        self,
        account_id: str | UUID,
        desired: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
        *,
        delete_missing: bool = False,
        dry_run: bool = False,
        concurrency: int = bulk.DEFAULT_CONCURRENCY,
        on_progress: ProgressCallback | None = None,
        result: sync.SyncResult | None = None,
    ) -> sync.SyncResult:
        """Make the account's contacts match ``desired``, writing only what changed.

        See ``billabex_async.sync.sync_contacts``; ``result.changes`` lists
        each planned (``dry_run``) or applied write.
        """
        return await sync.sync_contacts(
            self,
            account_id,
            desired,
            delete_missing=delete_missing,
            dry_run=dry_run,
            concurrency=concurrency,
            on_progress=on_progress,
            result=result,
        )


class BillabexClient:
    """Async client for the Billabex Contacts API.

    Use it as an async context manager, one per application (it pools
    connections)::

        async with BillabexClient() as client:   # token from BILLABEX_TOKEN
            async for contact in client.contacts.iterate(account_id):
                print(contact.full_name)

    ``token`` is an access token or a ``TokenProvider`` (refreshed on 401).
    ``rate_limit`` is enforced client-side (sliding window, shared by every
    client of this process with the same token); ``None`` disables it.
    ``timeout`` bounds each attempt, in seconds. ``session`` is an aiohttp
    session you own: the client uses it and never closes it. The pool holds
    ``max_connections`` sockets: by default as many as the rate limit lets be
    in flight (300), or 100 without a limit.
    """

    def __init__(
        self,
        token: str | TokenProvider | None = None,
        *,
        base_url: str | None = None,
        rate_limit: RateLimit | None = RateLimit(),  # noqa: B008 - frozen, safe to share
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        session: aiohttp.ClientSession | None = None,
        max_connections: int | None = None,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
        max_retry_after: float = MAX_RETRY_AFTER,
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> None:
        if token is None:
            token = os.environ.get("BILLABEX_TOKEN") or None
        if token is None or (isinstance(token, str) and not token.strip()):
            raise InvalidRequestError(
                "no access token: pass token=... or set BILLABEX_TOKEN", field="token"
            )
        if max_retries < 0:
            raise InvalidRequestError("max_retries must be >= 0", field="max_retries")
        if timeout <= 0 or connect_timeout <= 0:
            raise InvalidRequestError("timeouts must be > 0 seconds", field="timeout")
        self.base_url = (
            base_url or os.environ.get("BILLABEX_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self._api_url = _api_url(self.base_url)
        self.rate_limit = rate_limit
        self.max_retries = max_retries
        self._auth = TokenSource(token)
        self._owns_session = session is None
        self._session = session
        if max_connections is None:
            # The limiter keeps at most its window's worth of requests in
            # flight; the pool matches it so a fresh window is not throttled
            # by sockets. Without a limiter, aiohttp's usual 100.
            max_connections = rate_limit.requests if rate_limit is not None else 100
        if max_connections < 1:
            raise InvalidRequestError("max_connections must be >= 1", field="max_connections")
        self._max_connections = max_connections
        self._closed = False
        limiter = self._build_limiter(rate_limit, request_timeout=timeout)
        self._transport = Transport(
            session_factory=self._get_session,
            api_url=self._api_url,
            auth=self._auth,
            limiter=limiter,
            headers={"User-Agent": f"billabex-async/{__version__}", "Accept": "application/json"},
            timeout=timeouts(timeout, connect_timeout),
            max_retries=max_retries,
            retry_budget=retry_budget,
            max_retry_after=max_retry_after,
            on_request=on_request,
        )
        self.contacts = Contacts(self._transport)

    def _build_limiter(
        self, rate_limit: RateLimit | None, *, request_timeout: float = DEFAULT_TIMEOUT
    ) -> Limiter | None:
        if rate_limit is None:
            return None
        if rate_limit.storage == "memory":
            # One window per token, whatever RateLimit each client passed: this
            # client's limit holds alongside the others' until it is collected.
            return shared_memory_limiter(
                self._auth.rate_limit_key, rate_limit.requests, rate_limit.window, owner=self
            )
        # RateLimit checked the URL: anything else is a Redis one.
        from billabex_async._http._redis_limiter import RedisLimiter

        return RedisLimiter.from_rate_limit(
            rate_limit, key=self._auth.rate_limit_key, request_timeout=request_timeout
        )

    def __repr__(self) -> str:
        # Never the token nor a password: only where requests go and how they are paced.
        return (
            f"<BillabexClient base_url={redact_url(self.base_url)!r} "
            f"rate_limit={self.rate_limit!r} max_retries={self.max_retries}>"
        )

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter this client's requests go through (None when disabled)."""
        return self._transport.limiter

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this BillabexClient is closed")
        if self._session is None:
            # Created here, inside the running loop, and reused for pooling.
            self._session = new_session(self._max_connections)
        return self._session

    async def __aenter__(self) -> Self:
        self._get_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if the client opened it; a caller's session is left open.

        A limiter with its own connections (Redis) is flushed and closed too.
        """
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
        aclose = getattr(self._transport.limiter, "aclose", None)
        if aclose is not None:
            await aclose()

    async def bulk_upsert(
        self,
        pairs: Iterable[tuple[str | UUID, ContactUpsert]]
        | AsyncIterable[tuple[str | UUID, ContactUpsert]],
        *,
        concurrency: int = bulk.DEFAULT_CONCURRENCY,
        on_progress: ProgressCallback | None = None,
        report: bulk.BulkReport | None = None,
    ) -> bulk.BulkReport:
        """Upsert ``(account_id, contact)`` pairs across many accounts under one rate limit.

        A 403/404 on one account stops that account only; a 401 stops the run.
        """
        return await bulk.bulk_upsert(
            self.contacts, pairs, concurrency=concurrency, on_progress=on_progress, report=report
        )

    def bulk_upsert_iter(
        self,
        pairs: Iterable[tuple[str | UUID, ContactUpsert]]
        | AsyncIterable[tuple[str | UUID, ContactUpsert]],
        *,
        concurrency: int = bulk.DEFAULT_CONCURRENCY,
        report: bulk.BulkReport | None = None,
    ) -> AsyncGenerator[bulk.BulkOutcome, None]:
        """``bulk_upsert``, yielding each item's outcome as it completes."""
        return bulk.iter_upsert_pairs(self.contacts, pairs, concurrency=concurrency, report=report)
