"""Client layer: BillabexClient checks its settings and builds auth, limiter and transport."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Self
from uuid import UUID

from yarl import URL

from billabex_async._http import RequestEvent, TokenProvider, TokenSource, Transport
from billabex_async._http._body import DEFAULT_MAX_RESPONSE_BYTES
from billabex_async._http._proxy import env_proxy
from billabex_async._http._retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BUDGET, MAX_RETRY_AFTER
from billabex_async._http._session import SharedSession, timeouts
from billabex_async._otel import load as load_telemetry
from billabex_async._ratelimit import Limiter, build_limiter
from billabex_async._types import Clock, ProgressCallback, RateLimit, redact_url
from billabex_async._validation import check_base_url
from billabex_async._version import __version__
from billabex_async.errors import InvalidRequestError
from billabex_async.models import ContactUpsert
from billabex_async.resources import ContactsResource

if TYPE_CHECKING:
    import aiohttp
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from billabex_async import bulk

__all__ = ["DEFAULT_BASE_URL", "BillabexClient"]

DEFAULT_BASE_URL = "https://next.billabex.com"
API_PREFIX = "api/public/v1"
DEFAULT_TIMEOUT = 30.0  # seconds per attempt; aiohttp's own default is no limit at all
DEFAULT_CONNECT_TIMEOUT = 10.0


def _api_url(base_url: str) -> URL:
    # https only (http to loopback), no credentials, query or fragment; the
    # message of a refused URL never shows a password.
    url = check_base_url(base_url)
    if url.path.rstrip("/").endswith(API_PREFIX):
        return url
    return url / API_PREFIX


def _proxy_url(proxy: str | None, api_url: URL) -> str | None:
    """The explicit proxy, checked; never echoed back (it may hold credentials)."""
    if proxy is None:
        return None
    url = URL(proxy)
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequestError("proxy must be an http:// or https:// URL", field="proxy")
    if api_url.scheme != "https":
        raise InvalidRequestError(
            "a proxy is used only with an https base_url (over plain http it would read "
            "the bearer token)",
            field="proxy",
        )
    return proxy


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
    session you own: the client uses it as it is (its middlewares run) and
    never closes it; aiohttp's own resend of a request after a kept-alive
    connection drops is counted on the client's own session only (aiohttp
    has no public way to add a middleware to a session's). The pool holds
    ``max_connections`` sockets: by default as many as the rate limit lets be
    in flight (300), or 100 without a limit. Requests to an https
    ``base_url`` go through ``proxy`` when given, else through the proxy the
    environment names (``HTTPS_PROXY``, honouring ``NO_PROXY``), read when
    the client is built; ``~/.netrc`` is never read. A response
    body larger than ``max_response_bytes`` (decompressed; 8 MiB by default)
    raises ``ResponseTooLargeError``. A closed client raises ``ClientClosedError``;
    a client belongs to the event loop that first used it.
    ``idempotent_creates`` trusts the server to honour ``Idempotency-Key``
    (Billabex documents it): a create whose outcome is unknown is retried
    with the same key and body. Set it to False for a server that does not:
    such a create then raises ``OutcomeUnknownError`` instead of retrying.
    ``clock`` is where the limiter and the retry backoff read time and wait
    (the system's by default); pass the ``VirtualClock`` of a ``FakeBillabex``
    to run rate windows in no wall time.
    ``shared_session`` (a ``SharedSession``) sends through one connector shared
    with other clients, which closing this client leaves open (then
    ``max_connections`` is the shared one's). ``limiter`` is a limiter you
    built (one ``RedisLimiter`` per tenant, say): it replaces the one
    ``rate_limit`` would build, and is not closed by the client.
    ``telemetry``: with opentelemetry-api installed (the ``[otel]`` extra),
    each call is a span and the client records metrics, on the global
    providers or on ``tracer_provider``/``meter_provider``; a no-op until an
    SDK is configured. False (or ``OTEL_PYTHON_INSTRUMENTATION_BILLABEX_ENABLED=false``)
    turns it off, and nothing from opentelemetry is imported.
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
        proxy: str | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        idempotent_creates: bool = True,
        clock: Clock | None = None,
        shared_session: SharedSession | None = None,
        limiter: Limiter | None = None,
        telemetry: bool = True,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        """Check every setting and build the stack; nothing is sent until the first call.

        Args:
            token: An access token, or a ``TokenProvider`` for tokens that
                expire; None reads ``BILLABEX_TOKEN``. Surrounding whitespace
                is stripped; a control, space or non-ASCII character inside is
                refused.
            base_url: The host root (the SDK appends ``/api/public/v1``); None
                reads ``BILLABEX_BASE_URL``, else ``https://next.billabex.com``.
                https only, plain http to loopback.
            rate_limit: The client-side limit, shared by every client of the
                process on the same token; None disables it.
            max_retries: Retries of a retry-safe request on 429, 5xx,
                connection errors and timeouts; a call may pass its own.
            timeout: Seconds each attempt may take, in total.
            connect_timeout: Seconds to open a connection.
            session: An ``aiohttp.ClientSession`` you own: used as it is, never
                closed by the client.
            max_connections: Sockets in the pool; by default the rate limit's
                ``requests`` (300), or 100 without a limit.
            retry_budget: Seconds one call may spend retrying (backoff,
                ``Retry-After`` pauses and attempts), 180 by default.
            max_retry_after: The longest ``Retry-After`` honoured, in seconds
                (60 by default); a longer one is capped.
            on_request: Called with a ``RequestEvent`` after every attempt, for
                metrics; it receives no token and no body.
            proxy: An ``http://`` or ``https://`` proxy for an https
                ``base_url``; None follows ``HTTPS_PROXY``/``NO_PROXY``.
            max_response_bytes: The largest response body read, decompressed
                (8 MiB by default); a larger one raises ``ResponseTooLargeError``.
            idempotent_creates: Retry a create whose outcome is unknown with the
                same ``Idempotency-Key`` and body (True); False raises
                ``OutcomeUnknownError`` instead.
            clock: Where the limiter and the backoff read time and wait; a
                ``VirtualClock`` shared with a ``FakeBillabex`` runs rate
                windows in no wall time.
            shared_session: A ``SharedSession`` to send through, one connector
                shared with other clients; closing this client leaves it open.
            limiter: A limiter you built (a ``RedisLimiter`` per tenant, say):
                it replaces the one ``rate_limit`` would build and is not
                closed by the client.
            telemetry: Spans and metrics through opentelemetry-api when it is
                installed (a no-op until an SDK is configured); False turns it
                off and imports nothing from opentelemetry.
            tracer_provider: Where spans go; None: the global provider.
            meter_provider: Where metrics go; None: the global provider.

        Raises:
            InvalidRequestError: A missing token or a setting out of range
                (the message names it and never shows a secret).
        """
        if token is None:
            token = os.environ.get("BILLABEX_TOKEN") or None
        if token is None or (isinstance(token, str) and not token.strip()):
            raise InvalidRequestError(
                "no access token: pass token=... or set BILLABEX_TOKEN", field="token"
            )
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise InvalidRequestError(
                f"rate_limit must be a RateLimit or None, got {type(rate_limit).__name__}",
                field="rate_limit",
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError("max_retries must be an integer >= 0", field="max_retries")
        if timeout <= 0 or connect_timeout <= 0:
            raise InvalidRequestError("timeouts must be > 0 seconds", field="timeout")
        raw_url = base_url or os.environ.get("BILLABEX_BASE_URL") or DEFAULT_BASE_URL
        api_url = _api_url(raw_url)
        proxy_url = _proxy_url(proxy, api_url)
        if proxy_url is None and api_url.scheme == "https":
            # Read once here rather than by aiohttp on every request (which
            # would also apply ~/.netrc credentials over our bearer header).
            proxy_url = env_proxy(api_url)
        self._base_url = raw_url.strip().rstrip("/")
        self._rate_limit = rate_limit
        self._max_retries = max_retries
        if (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or max_response_bytes < 1
        ):
            raise InvalidRequestError(
                f"max_response_bytes must be an integer >= 1, got {max_response_bytes!r}",
                field="max_response_bytes",
            )
        self._auth = TokenSource(token)
        if max_connections is None:
            # The limiter keeps at most its window's worth of requests in
            # flight; the pool matches it so a fresh window is not throttled
            # by sockets. Without a limiter, aiohttp's usual 100.
            max_connections = rate_limit.requests if rate_limit is not None else 100
        if max_connections < 1:
            raise InvalidRequestError("max_connections must be >= 1", field="max_connections")
        if shared_session is not None and session is not None:
            raise InvalidRequestError(
                "pass session= or shared_session=, not both", field="shared_session"
            )
        if shared_session is not None and not isinstance(shared_session, SharedSession):
            raise InvalidRequestError(
                f"shared_session must be a SharedSession, got {type(shared_session).__name__}",
                field="shared_session",
            )
        own_limiter = limiter is None
        if limiter is None:
            limiter = build_limiter(
                rate_limit,
                key=self._auth.rate_limit_key,
                request_timeout=timeout,
                owner=self,
                clock=clock,
            )

        self._transport = Transport(
            api_url=api_url,
            auth=self._auth,
            limiter=limiter,
            headers={"User-Agent": f"billabex-async/{__version__}", "Accept": "application/json"},
            timeout=timeouts(timeout, connect_timeout),
            max_retries=max_retries,
            session=session,
            shared_session=shared_session,
            max_connections=max_connections,
            # Plain http is allowed only to loopback, and a proxy on that path
            # would read the bearer token: only https goes through one (as a
            # CONNECT tunnel, which carries no Authorization header).
            proxy=proxy_url,
            retry_budget=retry_budget,
            max_retry_after=max_retry_after,
            max_response_bytes=max_response_bytes,
            on_request=on_request,
            idempotent_creates=idempotent_creates,
            telemetry=load_telemetry(telemetry, tracer_provider, meter_provider),
            clock=time.monotonic if clock is None else clock.time,
            sleep=asyncio.sleep if clock is None else clock.sleep,
            owns_limiter=own_limiter,
        )
        self.contacts = ContactsResource(self._transport)
        """The contacts endpoints, bulk upsert and sync: a ``ContactsResource``."""

    def __repr__(self) -> str:
        # Never the token nor a password: only where requests go and how they are paced.
        return (
            f"<BillabexClient base_url={redact_url(self.base_url)!r} "
            f"rate_limit={self.rate_limit!r} max_retries={self.max_retries}>"
        )

    # Read-only: the transport and the limiter were built from these values,
    # so assigning a new one would silently change nothing.
    @property
    def base_url(self) -> str:
        """The host root requests go to, as given (the SDK appends ``/api/public/v1``)."""
        return self._base_url

    @property
    def rate_limit(self) -> RateLimit | None:
        """The client-side rate limit requests are paced by (None: not limited)."""
        return self._rate_limit

    @property
    def max_retries(self) -> int:
        """Retries of a retry-safe request, unless a call passes its own ``max_retries``."""
        return self._max_retries

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter this client's requests go through (None when disabled)."""
        return self._transport.limiter

    async def __aenter__(self) -> Self:
        """Open the session; raises ``ClientClosedError`` once closed."""
        self._transport.open()
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
        Calls in flight fail with ``ClientClosedError``; later ones raise it
        before sending anything.
        """
        await self._transport.close()

    async def bulk_upsert(
        self,
        pairs: Iterable[tuple[str | UUID, ContactUpsert]]
        | AsyncIterable[tuple[str | UUID, ContactUpsert]],
        *,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        report: bulk.BulkReport | None = None,
        resume_from: bulk.BulkReport | None = None,
    ) -> bulk.BulkReport:
        """Upsert ``(account_id, contact)`` pairs across many accounts under one rate limit.

        A 403/404 on one account stops that account only; a 401 stops the run.
        ``resume_from``: as in ``contacts.bulk_upsert``, with the same pairs.

        Args:
            pairs: ``(account_id, ContactUpsert)`` pairs, an iterable or async iterable.
            concurrency: Requests in flight; None follows the rate limit.
            on_progress: ``on_progress(done, total)`` after each item settles.
            report: A ``BulkReport`` filled in place (kept when cancelled).
            resume_from: A previous run's report: finish its job with the same pairs.
        """
        from billabex_async import bulk

        return await bulk.bulk_upsert(
            self.contacts,
            pairs,
            concurrency=concurrency,
            on_progress=on_progress,
            report=report,
            resume_from=resume_from,
        )

    def bulk_upsert_iter(
        self,
        pairs: Iterable[tuple[str | UUID, ContactUpsert]]
        | AsyncIterable[tuple[str | UUID, ContactUpsert]],
        *,
        concurrency: int | None = None,
        report: bulk.BulkReport | None = None,
        resume_from: bulk.BulkReport | None = None,
    ) -> AsyncGenerator[bulk.BulkOutcome, None]:
        """``bulk_upsert``, yielding each item's outcome as it completes.

        ``pairs``, ``concurrency``, ``report`` and ``resume_from`` are as in
        ``bulk_upsert``.
        """
        from billabex_async import bulk

        return bulk.iter_upsert_pairs(
            self.contacts, pairs, concurrency=concurrency, report=report, resume_from=resume_from
        )
