"""Transport layer: OAuthTokenProvider, an access token kept fresh and its store current.

::

    store = FileTokenStore()                      # ~/.config/billabex/credentials.json
    provider = OAuthTokenProvider.from_store(store)
    async with BillabexClient(provider) as client: ...

    store = RedisTokenStore(redis, key="billabex:tokens:tenant-a")   # shared by processes
    provider = await OAuthTokenProvider.from_async_store(store)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs

from billabex_async.auth._async_store import AsyncTokenStore, as_async_store
from billabex_async.auth._endpoint import token_request
from billabex_async.auth._errors import InvalidGrantError
from billabex_async.auth._oauth import (
    MIN_REFRESH_MARGIN,
    REFRESH_FRACTION,
    REFRESH_MARGIN,
    _refresh_form,
)
from billabex_async.auth._store import Credentials, TokenSet, TokenStore
from billabex_async.errors import AuthRefreshError

__all__ = ["OAuthTokenProvider"]

logger = logging.getLogger("billabex_async")


def _rate_limit_key(credentials: Credentials, scope: str | None) -> str:
    # The rate limit is per access token, which changes hourly; one key per
    # login keeps every client of this provider in one window. ``scope`` (a
    # store key) parts the logins of many tenants on one OAuth client.
    seed = f"{credentials.base_url}|{credentials.client_id}"
    if scope is not None:
        seed += f"|{scope}"
    return "oauth-" + hashlib.sha256(seed.encode()).hexdigest()


class OAuthTokenProvider:
    """A ``TokenProvider`` that keeps an OAuth access token fresh and its store current.

    Refreshes ahead of expiry, by a tenth of the token's lifetime kept between
    ``MIN_REFRESH_MARGIN`` (1 s) and ``refresh_margin`` (5 min: so 5 min for
    Billabex's 1 h tokens, 6 s for a 60 s one), and when the API answers 401;
    one refresh at a time however many requests ask; and saves every new token
    set (a rotated refresh token must not be lost: the old one is dead).

    With a ``store`` other processes share, a refresh runs under the store's
    refresh lock (an ``AsyncTokenStore``'s; a sync ``TokenStore`` has none)
    and starts by reading the store: tokens another process refreshed
    meanwhile are taken as they are, with no refresh. A refresh answered
    ``invalid_grant`` reads the store again: if it holds another refresh
    token (someone rotated ours first) the provider continues with it, else
    ``InvalidGrantError`` is raised. Stored credentials of another base URL
    or OAuth client are never taken. ``clock`` gives unix seconds (tests pass
    a fake one). ``rate_limit_key`` names the rate-limit window of the
    clients using this provider (by default one per base URL and OAuth
    client; ``from_async_store`` adds the store's ``key``).

    Args:
        credentials: What a login left (``login()``, or a store's ``load()``).
        store: Where each new token set is saved, and read back before a
            refresh and after an ``invalid_grant``: a sync ``TokenStore``
            (``FileTokenStore``) or an ``AsyncTokenStore`` (``RedisTokenStore``,
            whose refresh lock makes the refresh single-flight across
            processes); None keeps the tokens in memory only.
        refresh_margin: The most seconds before expiry a token is refreshed.
        clock: Unix seconds now.
        rate_limit_key: The rate-limit window's key; None: one per base URL
            and OAuth client.
    """

    __slots__ = (
        "_clock",
        "_credentials",
        "_lock",
        "_store",
        "rate_limit_key",
        "refresh_margin",
        "refreshes",
    )

    def __init__(
        self,
        credentials: Credentials,
        *,
        store: TokenStore | AsyncTokenStore | None = None,
        refresh_margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
        rate_limit_key: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._store = None if store is None else as_async_store(store)
        self._clock = clock
        self._lock = asyncio.Lock()
        self.refresh_margin = refresh_margin
        self.refreshes = 0
        """Refresh grants this provider made (tokens it read from the store are not counted)."""
        self.rate_limit_key = rate_limit_key or _rate_limit_key(credentials, None)
        """The rate-limit window's key: one per login, however often the token rotates."""

    @classmethod
    def from_store(cls, store: TokenStore, **kwargs: Any) -> OAuthTokenProvider:
        """The provider for the credentials in ``store``, saving new tokens back to it.

        Args:
            store: A sync store (``FileTokenStore``, ``KeyringTokenStore``). It
                has no lock: a refresh reads it first and again after an
                ``invalid_grant``, so a second process on the same file that
                rotated the refresh token first is followed, not fatal.
            **kwargs: The constructor's other keywords (``refresh_margin``,
                ``clock``, ``rate_limit_key``).

        Raises:
            AuthRefreshError: ``store`` holds no credentials, or they cannot
                be read.
        """
        credentials = store.load()
        if credentials is None:
            raise AuthRefreshError("not logged in: run `billabex login` first")
        return cls(credentials, store=store, **kwargs)

    @classmethod
    async def from_async_store(cls, store: AsyncTokenStore, **kwargs: Any) -> OAuthTokenProvider:
        """The provider for the credentials in a shared store, saving new tokens back to it.

        Its rate-limit key includes the store's ``key`` (when it has one):
        tenants logged in through one OAuth client keep separate windows.

        Args:
            store: An ``AsyncTokenStore`` (``RedisTokenStore``): every refresh
                runs under its ``refresh_lock()``, so one process spends the
                refresh token while the others wait and take its tokens.
            **kwargs: The constructor's other keywords (``refresh_margin``,
                ``clock``; ``rate_limit_key`` replaces the one made from the
                store's key).

        Raises:
            AuthRefreshError: ``store`` holds no credentials, or cannot be read.
        """
        credentials = await store.load()
        if credentials is None:
            raise AuthRefreshError(f"no credentials in {store!r}: log in and save them first")
        key = getattr(store, "key", None)
        kwargs.setdefault("rate_limit_key", _rate_limit_key(credentials, key))
        return cls(credentials, store=store, **kwargs)

    def __repr__(self) -> str:
        left = self._credentials.tokens.expires_at - self._clock()
        return (
            f"<OAuthTokenProvider client_id={self._credentials.client_id!r} expires_in={left:.0f}s>"
        )

    @property
    def credentials(self) -> Credentials:
        """The current credentials: after the latest refresh, or as read from the store."""
        return self._credentials

    def margin(self, tokens: TokenSet) -> float:
        """Seconds before ``tokens`` expire at which they are refreshed."""
        lifetime = tokens.lifetime
        if lifetime is None:  # stored by an older version: assume the usual hour
            return self.refresh_margin
        return min(self.refresh_margin, max(MIN_REFRESH_MARGIN, REFRESH_FRACTION * lifetime))

    def _stale(self, tokens: TokenSet) -> bool:
        return tokens.expires_within(self.margin(tokens), now=self._clock())

    async def get_token(self) -> str:
        """The access token, refreshed first when it is about to expire.

        Raises:
            InvalidGrantError: The refresh token is expired or revoked and the
                store holds no newer one.
            OAuthError: Another refusal of the token endpoint, or an answer
                that is not a token set.
            APIConnectionError: The token endpoint did not answer
                (``APITimeoutError`` when it took too long).
            AuthRefreshError: The store could not be written, or its refresh
                lock not taken.
        """
        tokens = self._credentials.tokens
        if self._stale(tokens):
            return await self._refresh_if_current(tokens.access_token)
        return tokens.access_token

    async def refresh(self, rejected: str) -> str:
        """A new access token after the API refused ``rejected`` (once for concurrent callers).

        Args:
            rejected: The access token the API answered 401 to; if the
                provider (or, through the store, another process) already
                holds a newer one, that one is returned with no refresh.

        Raises:
            InvalidGrantError: The refresh token is expired or revoked and the
                store holds no newer one.
            OAuthError: Another refusal of the token endpoint, or an answer
                that is not a token set.
            APIConnectionError: The token endpoint did not answer
                (``APITimeoutError`` when it took too long).
            AuthRefreshError: The store could not be written, or its refresh
                lock not taken.
        """
        return await self._refresh_if_current(rejected)

    def _usable(self, tokens: TokenSet, rejected: str) -> bool:
        return tokens.access_token != rejected and not self._stale(tokens)

    async def _refresh_if_current(self, stale: str) -> str:
        async with self._lock:
            if self._usable(self._credentials.tokens, stale):
                return self._credentials.tokens.access_token  # refreshed meanwhile
            if self._store is None:
                return await self._refresh()
            async with self._store.refresh_lock():
                # Another process may have refreshed while we waited for the lock.
                if await self._reread() and self._usable(self._credentials.tokens, stale):
                    logger.debug("took the access token another process refreshed")
                    return self._credentials.tokens.access_token
                spent = self._credentials.tokens.refresh_token
                try:
                    return await self._refresh()
                except InvalidGrantError:
                    # Lost a rotation race: someone without the lock (another
                    # CLI on the same file, a lock lease that ran out) spent it
                    # first and, if it lived, stored the tokens it got.
                    if not await self._reread() or self._credentials.tokens.refresh_token == spent:
                        raise
                    logger.info("refresh token rotated elsewhere: continuing with the stored one")
                    if self._usable(self._credentials.tokens, stale):
                        return self._credentials.tokens.access_token
                    return await self._refresh()

    async def _reread(self) -> bool:
        """Take the stored credentials if they are newer than ours; whether they were."""
        assert self._store is not None
        try:
            stored = await self._store.load()
        except AuthRefreshError as exc:
            # Unreadable now (damaged, or the store is down): keep ours; the
            # save after the refresh rewrites a damaged one.
            logger.warning("token store unreadable, continuing with the tokens in memory: %s", exc)
            return False
        ours = self._credentials
        if (
            stored is None
            or stored.base_url != ours.base_url
            or stored.client_id != ours.client_id
            or stored.tokens == ours.tokens
        ):
            return False
        self._credentials = stored
        return True

    async def _refresh(self) -> str:
        """One refresh grant with our refresh token; saves and returns the new access token."""
        creds = self._credentials
        current = creds.tokens
        if not current.refresh_token:
            raise InvalidGrantError("no refresh token: run `billabex login` again")
        form = _refresh_form(creds.client_id, creds.client_secret, current.refresh_token)
        tokens = await token_request(
            creds.base_url, form, None, clock=self._clock, token_endpoint=creds.token_endpoint
        )
        self._credentials = attrs.evolve(creds, tokens=tokens)
        self.refreshes += 1
        rotated = tokens.refresh_token != current.refresh_token
        logger.info("access token refreshed (refresh token rotated: %s)", rotated)
        if self._store is not None:
            await self._store.save(self._credentials)
        return tokens.access_token
