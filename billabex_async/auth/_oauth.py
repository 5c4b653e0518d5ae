"""Transport layer: OAuth 2.1 tokens — PKCE, code exchange, refresh, storage, provider.

Billabex has no API keys: a person logs in once (authorization code + PKCE,
S256) and a job keeps working with the refresh token (30 days, possibly
rotated at each refresh). ``OAuthTokenProvider`` plugs into
``BillabexClient(token=...)``: it refreshes ahead of expiry (five minutes, or a
tenth of the token's lifetime if that is shorter) and once after a 401, one
refresh at a time, and saves a rotated refresh token.

::

    store = FileTokenStore()                      # ~/.config/billabex/credentials.json
    provider = OAuthTokenProvider.from_store(store)
    async with BillabexClient(provider) as client: ...
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs
from yarl import URL

from billabex_async._validation import check_base_url
from billabex_async.auth._endpoint import endpoint_url, token_request
from billabex_async.auth._errors import (
    InvalidGrantError,
    LoginTimeoutError,
    OAuthError,
    OAuthRedirectError,
    OAuthResponseError,
)
from billabex_async.auth._store import Credentials, TokenSet, TokenStore
from billabex_async.errors import AuthRefreshError

__all__ = [
    "DEFAULT_SCOPE",
    "REFRESH_FRACTION",
    "REFRESH_MARGIN",
    "InvalidGrantError",
    "LoginTimeoutError",
    "OAuthError",
    "OAuthRedirectError",
    "OAuthResponseError",
    "OAuthTokenProvider",
    "PKCEPair",
    "authorization_url",
    "exchange_code",
    "generate_pkce",
    "refresh_tokens",
]

logger = logging.getLogger("billabex_async")

AUTHORIZE_PATH = "api/oauth/authorize"
DEFAULT_SCOPE = "accounts:all"
"""The scope a login asks for: read and write every account's contacts."""
REFRESH_MARGIN = 300.0  # at most this many seconds before expiry, a token is refreshed
"""A token is refreshed at most this many seconds before it expires."""
# ... and at most this share of its lifetime: a 60 s token refreshed 300 s
# early would be refreshed before every request.
REFRESH_FRACTION = 0.1
"""... and at most this share of its lifetime before."""
# ... but never later than this: a token is taken before the request waits
# for its rate-limit slot and crosses the network, and must still be valid
# when the server reads it.
MIN_REFRESH_MARGIN = 1.0


@attrs.frozen
class PKCEPair:
    """A PKCE verifier and its S256 challenge (RFC 7636)."""

    verifier: str = attrs.field(repr=False)
    """The secret sent with the code exchange (never shown in a repr)."""
    challenge: str
    """Its SHA-256, base64url: sent with the authorization request."""
    method: str = "S256"
    """The challenge method: always ``S256``."""


def generate_pkce() -> PKCEPair:
    """A fresh verifier (64 URL-safe characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return PKCEPair(verifier=verifier, challenge=challenge)


def authorization_url(
    base_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    scope: str = DEFAULT_SCOPE,
    authorization_endpoint: str | None = None,
) -> str:
    """The URL to open in the user's browser to start the login.

    ``authorization_endpoint`` (from ``discover()``) defaults to Billabex's known path.
    Raises ``InvalidRequestError`` unless the URL is https (or http to loopback).

    Args:
        base_url: The server's host root (``https://next.billabex.com``).
        client_id: The OAuth client's id.
        redirect_uri: Where the browser comes back with the code (a loopback URL).
        state: A random value to find again in the redirect (against CSRF).
        code_challenge: ``generate_pkce().challenge``.
        scope: The scopes asked for, space-separated.
        authorization_endpoint: From ``discover()``; None: Billabex's known path.
    """
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if authorization_endpoint:
        # RFC 8414 lets this endpoint carry a query of its own: keep it, and
        # hold the rest of the URL to the https rule.
        endpoint = URL(authorization_endpoint)
        check_base_url(str(endpoint.with_query(None).with_fragment(None)), "authorization_endpoint")
        return str(endpoint.update_query(query))
    return str(endpoint_url(base_url, AUTHORIZE_PATH).with_query(query))


async def exchange_code(
    base_url: str,
    *,
    client_id: str,
    client_secret: str | None,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    session: aiohttp.ClientSession | None = None,
    token_endpoint: str | None = None,
) -> TokenSet:
    """Trade an authorization code (and its PKCE verifier) for tokens.

    ``token_endpoint`` (from ``discover()``) defaults to Billabex's known path.

    Args:
        base_url: The server's host root (``https://next.billabex.com``).
        client_id: The OAuth client's id.
        client_secret: Its secret, or None for a public client.
        code: The code the redirect brought back.
        redirect_uri: The same redirect URI the authorization request named.
        code_verifier: ``generate_pkce().verifier``, of the same pair as the challenge.
        session: An aiohttp session to send with (yours, not closed); None: a new one.
        token_endpoint: From ``discover()``; None: Billabex's known path.
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": code_verifier,
    }
    if client_secret:
        form["client_secret"] = client_secret
    return await token_request(base_url, form, session, token_endpoint=token_endpoint)


async def refresh_tokens(
    base_url: str,
    *,
    client_id: str,
    client_secret: str | None,
    refresh_token: str,
    session: aiohttp.ClientSession | None = None,
    token_endpoint: str | None = None,
) -> TokenSet:
    """A new access token from a refresh token; keeps the old refresh token unless rotated.

    Raises ``InvalidGrantError`` when the refresh token is expired or revoked.

    Args:
        base_url: The server's host root (``https://next.billabex.com``).
        client_id: The OAuth client's id.
        client_secret: Its secret, or None for a public client.
        refresh_token: The current refresh token.
        session: An aiohttp session to send with (yours, not closed); None: a new one.
        token_endpoint: From ``discover()``; None: Billabex's known path.
    """
    form = _refresh_form(client_id, client_secret, refresh_token)
    return await token_request(base_url, form, session, token_endpoint=token_endpoint)


def _refresh_form(client_id: str, client_secret: str | None, refresh_token: str) -> dict[str, str]:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    return form


class OAuthTokenProvider:
    """A ``TokenProvider`` that keeps an OAuth access token fresh and its store current.

    Refreshes ahead of expiry, by a tenth of the token's lifetime kept between
    ``MIN_REFRESH_MARGIN`` (1 s) and ``refresh_margin`` (5 min: so 5 min for
    Billabex's 1 h tokens, 6 s for a 60 s one), and when the API answers 401;
    one refresh at a time however many requests ask; and saves every new token
    set (a rotated refresh token must not be lost: the old one is dead).
    ``clock`` gives unix seconds (tests pass a fake one).

    Args:
        credentials: What a login left (``login()``, or a store's ``load()``).
        store: Where each new token set is saved; None keeps them in memory only.
        refresh_margin: The most seconds before expiry a token is refreshed.
        clock: Unix seconds now.
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
        store: TokenStore | None = None,
        refresh_margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._store = store
        self._clock = clock
        self._lock = asyncio.Lock()
        self.refresh_margin = refresh_margin
        self.refreshes = 0
        """Refreshes done so far."""
        # The rate limit is per access token, which changes hourly; one key per
        # login keeps every client of this provider in one window.
        seed = f"{credentials.base_url}|{credentials.client_id}"
        self.rate_limit_key = "oauth-" + hashlib.sha256(seed.encode()).hexdigest()
        """The rate-limit window's key: one per login, however often the token rotates."""

    @classmethod
    def from_store(cls, store: TokenStore, **kwargs: Any) -> OAuthTokenProvider:
        """The provider for the credentials in ``store``, saving new tokens back to it.

        Raises ``AuthRefreshError`` if there are none. ``kwargs`` go to the
        constructor (``refresh_margin``, ``clock``).
        """
        credentials = store.load()
        if credentials is None:
            raise AuthRefreshError("not logged in: run `billabex login` first")
        return cls(credentials, store=store, **kwargs)

    def __repr__(self) -> str:
        left = self._credentials.tokens.expires_at - self._clock()
        return (
            f"<OAuthTokenProvider client_id={self._credentials.client_id!r} expires_in={left:.0f}s>"
        )

    @property
    def credentials(self) -> Credentials:
        """The current credentials (after the latest refresh)."""
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
        """The access token, refreshed first when it is about to expire."""
        tokens = self._credentials.tokens
        if self._stale(tokens):
            return await self._refresh_if_current(tokens.access_token)
        return tokens.access_token

    async def refresh(self, rejected: str) -> str:
        """A new access token after the API refused ``rejected`` (once for concurrent callers).

        Raises ``InvalidGrantError`` when the refresh token is expired or revoked.
        """
        return await self._refresh_if_current(rejected)

    async def _refresh_if_current(self, stale: str) -> str:
        async with self._lock:
            current = self._credentials.tokens
            if current.access_token != stale and not self._stale(current):
                return current.access_token  # another caller refreshed meanwhile
            if not current.refresh_token:
                raise InvalidGrantError("no refresh token: run `billabex login` again")
            creds = self._credentials
            form = _refresh_form(creds.client_id, creds.client_secret, current.refresh_token)
            tokens = await token_request(
                creds.base_url,
                form,
                None,
                clock=self._clock,
                token_endpoint=creds.token_endpoint,
            )
            self._credentials = attrs.evolve(creds, tokens=tokens)
            self.refreshes += 1
            rotated = tokens.refresh_token != current.refresh_token
            logger.info("access token refreshed (refresh token rotated: %s)", rotated)
            if self._store is not None:
                self._store.save(self._credentials)
            return tokens.access_token
