"""Simulator layer: FakeBillabex, the embedded API server and its test helpers."""

from __future__ import annotations

import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from aiohttp import web

from billabex_async._types import (
    DEFAULT_PAGE_SIZE,
    SYSTEM_CLOCK,
    Clock,
    RateLimit,
    canonical_uuid,
)
from billabex_async.testing._admin import ContactsAdmin
from billabex_async.testing._clock import time_and_sleep
from billabex_async.testing._control import SimulatorControl
from billabex_async.testing._core import WRITE_SCOPE, Core
from billabex_async.testing._faults import FaultInjector, Faults
from billabex_async.testing._handlers import build_app
from billabex_async.testing._idempotency import DEFAULT_IDEMPOTENCY_WINDOW, IdempotencyStore
from billabex_async.testing._oauth import OAuthServer
from billabex_async.testing._ratelimit import RateLimiter, Stats
from billabex_async.testing._rules import Matching
from billabex_async.testing._stale import StaleReads
from billabex_async.testing._store import Store

__all__ = ["FakeBillabex", "check_account_id", "check_token"]

logger = logging.getLogger("billabex_async.testing")


_SHUTDOWN_TIMEOUT = 1.0  # seconds cleanup waits for in-flight handlers
# RFC 6750's b64token: what a client may put after "Bearer " unquoted.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def check_token(token: str) -> str:
    """``token`` if it is a valid bearer token (RFC 6750 syntax), else ValueError."""
    if not isinstance(token, str) or not _BEARER_TOKEN.fullmatch(token):
        raise ValueError(
            "token must be letters, digits and - . _ ~ + / (optionally followed by =), "
            "as a bearer token is"
        )
    return token


def check_account_id(account_id: str) -> str:
    """The canonical lower-case form of the UUID ``account_id``, else ValueError."""
    canonical = canonical_uuid(account_id)
    if canonical is None:
        raise ValueError(f"account_id must be a UUID, got {account_id!r}")
    return canonical


class FakeBillabex(ContactsAdmin, SimulatorControl):
    """An in-process Billabex Contacts API on 127.0.0.1, for tests, demos and benchmarks.

    Speaks the wire protocol under ``{url}/api/public/v1``: bearer auth and
    scopes, a per-token sliding window of arrivals (429 + Retry-After, not
    applied), cursor pagination, upsert matching, and seeded faults::

        async with FakeBillabex(rate_limit=RateLimit(40, 1.0)) as fake:
            async with BillabexClient(token=fake.token, base_url=fake.url) as client:
                await client.contacts.upsert(fake.account_id, full_name="Ada", language="en")
            assert [c.full_name for c in fake.contacts(fake.account_id)] == ["Ada"]

    It listens on ``host`` and ``port`` (127.0.0.1 and a free port by default;
    ``fake.url`` says which). Every request waits ``latency`` seconds plus up to
    ``jitter`` more, drawn at random; ``faults`` (a ``Faults``) injects random
    errors and resets, ``fake.script(...)`` precise ones.
    ``clock`` (a ``Clock``, such as a ``VirtualClock`` shared with the client)
    drives the window, token lifetimes and idempotency windows with its
    ``time()``, and injected latency and delay faults with its ``sleep``, so
    tests move time without sleeping; a plain callable returning seconds is
    accepted too (then latency sleeps with ``asyncio.sleep``).
    ``foreign_share`` spends that fraction of each token's budget as a second
    process sharing the token would, from the token's first request on.
    ``log_limit`` bounds the request log and the arrival lists (None: unbounded).
    ``seed`` makes ids, seeded names and faults reproducible.
    ``token`` and ``account_id`` fix ``fake.token`` (RFC 6750 token syntax) and
    ``fake.account_id`` (a UUID, kept in canonical lower case) instead of
    drawing new ones, so code configured for one run reaches the next; a
    malformed one raises ValueError.
    ``fake.oauth`` is an OAuth 2.1 authorization server (``/api/oauth/authorize``
    approves at once, ``/api/oauth/token`` checks PKCE and rotates refresh
    tokens) for the client ``oauth_client_id``/``oauth_client_secret``; its
    access tokens expire after ``access_token_ttl`` seconds (``fake.token``
    never does). Set ``fake.oauth.deny = True`` to refuse consent. It also
    publishes its RFC 8414 metadata and registers clients (RFC 7591, ``POST
    /api/oauth/register``), so ``billabex login`` works with no client id;
    ``fake.oauth.publish_metadata = False`` hides the metadata.
    ``matching`` (a ``Matching``; default: the documented rules) plays a server
    whose upsert matching differs from the SDK's prediction; ``fake.matching``
    can be changed at any time.
    ``read_lag`` makes list pages stale, as Billabex's projection can be: an
    API write shows in its account's list pages only from the ``read_lag + 1``-th
    list request after it (until then, the contact as it was, or not at all if
    the write created it), while upsert matching sees it at once;
    ``settle_reads()`` lands every pending write.

    Where the API reference is silent, the simulator assumes: a 429 counts in
    the window (it "burns budget"); X-RateLimit-Reset is when the oldest
    arrival leaves (on a 429, when the next request would be admitted);
    ``rate_limit=None`` sends no rate-limit headers; ``first`` defaults to 100,
    capped at ``max_page_size``, and a cursor is tied to its account and
    ``first``. Every write honours ``Idempotency-Key`` for
    ``idempotency_window`` seconds of ``clock``, keys scoped per account: the
    same key, method, path and body bytes replay the first answer (same
    status and body, header ``Idempotent-Replayed: true``) and apply nothing;
    the same key with another request answers 409
    ``app-core.idempotency.key-reused``. ``idempotency_window=None`` ignores
    keys, like a server that does not honour them.
    """

    def __init__(
        self,
        *,
        rate_limit: RateLimit | None = RateLimit(),  # noqa: B008  (frozen: safe to share)
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: Faults | None = None,
        seed: int | None = None,
        max_page_size: int = 100,
        clock: Clock | Callable[[], float] = SYSTEM_CLOCK,
        port: int = 0,
        host: str = "127.0.0.1",
        foreign_share: float = 0.0,
        log_limit: int | None = 100_000,
        access_token_ttl: float = 3600.0,
        idempotency_window: float | None = DEFAULT_IDEMPOTENCY_WINDOW,
        matching: Matching | None = None,
        read_lag: int = 0,
        token: str | None = None,
        account_id: str | None = None,
    ) -> None:
        if token is not None:
            check_token(token)
        if account_id is not None:
            account_id = check_account_id(account_id)
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0 seconds")
        if max_page_size < 1:
            raise ValueError(f"max_page_size must be >= 1, got {max_page_size}")
        self._host, self._port = host, port
        # Separate generators: ids stay the same whatever faults are drawn.
        rng = random.Random(seed)
        ids = random.Random(None if seed is None else f"ids-{seed}")
        now, sleep = time_and_sleep(clock)
        stats = Stats(arrivals=deque(maxlen=log_limit), rejected=deque(maxlen=log_limit))
        self._core = Core(
            store=Store(ids, matching),
            limiter=RateLimiter(rate_limit, stats=stats, foreign_share=foreign_share),
            injector=FaultInjector(faults or Faults(), rng),
            stats=stats,
            clock=now,
            sleep=sleep,
            epoch=time.time() - now(),
            rng=rng,
            latency=latency,
            jitter=jitter,
            max_page_size=max_page_size,
            default_page_size=DEFAULT_PAGE_SIZE,
            log=deque(maxlen=log_limit),
            idempotency=IdempotencyStore(idempotency_window, now),
            reads=StaleReads(read_lag),
        )
        self._token = self._core.issue_token((WRITE_SCOPE,), value=token)
        # The authorization server: one OAuth client registered up front.
        self.oauth = OAuthServer(self._core, access_token_ttl=access_token_ttl)
        """The OAuth 2.1 authorization server: ``deny``, ``publish_metadata``, its clients."""
        self.oauth_client_id = "billabex-fake-client"
        self.oauth_client_secret = "fake-client-secret"  # noqa: S105 - a test fixture value
        self.oauth.register_client(self.oauth_client_id, self.oauth_client_secret)
        self._account_id = self._core.store.create_account(account_id).id
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    def __repr__(self) -> str:
        state = self._url or "not started"
        return (
            f"<FakeBillabex {state} accounts={len(self._core.store.accounts)} "
            f"requests={self._core.stats.requests} 429s={self._core.stats.rate_limited}>"
        )

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve; ``url`` is valid from here on."""
        if self._runner is not None:
            raise RuntimeError("FakeBillabex is already started")
        runner = web.AppRunner(
            build_app(self._core, self.oauth), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        self._url = f"http://{self._host}:{port}"
        logger.info("FakeBillabex listening on %s", self._url)

    async def close(self) -> None:
        """Stop serving and drop open connections; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("FakeBillabex on %s stopped", self._url)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- identity ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The host root, ``http://127.0.0.1:PORT``; the API is under /api/public/v1."""
        if self._url is None:
            raise RuntimeError("FakeBillabex is not started")
        return self._url

    @property
    def token(self) -> str:
        """A valid bearer token with scope accounts:all."""
        return self._token

    @property
    def account_id(self) -> str:
        """A pre-created account."""
        return self._account_id

    def create_account(self) -> str:
        """A new, empty account; every token may use it."""
        return self._core.store.create_account().id

    def issue_token(self, scopes: Iterable[str] = (WRITE_SCOPE,)) -> str:
        """A new token with its own rate-limit window, granted ``scopes``: reads need
        accounts:read or accounts:all, writes accounts:all, else 403."""
        return self._core.issue_token(scopes)

    def revoke_token(self, token: str) -> None:
        """Make ``token`` answer 401 from now on; unknown tokens are ignored."""
        self._core.tokens.pop(token, None)
