"""Transport layer: OAuth 2.1 tokens — PKCE, code exchange, refresh, storage, provider.

Billabex has no API keys: a person logs in once (authorization code + PKCE,
S256) and a job keeps working with the refresh token (30 days, possibly
rotated at each refresh). ``OAuthTokenProvider`` plugs into
``BillabexClient(token=...)``: it refreshes five minutes before expiry and once
after a 401, one refresh at a time, and saves a rotated refresh token.

::

    store = FileTokenStore()                      # ~/.config/billabex/credentials.json
    provider = OAuthTokenProvider.from_store(store)
    async with BillabexClient(provider) as client: ...
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
import time
from typing import Any

import aiohttp
import attrs
from yarl import URL

from billabex_async.auth._store import Credentials, TokenSet, TokenStore
from billabex_async.errors import APIConnectionError, AuthRefreshError

__all__ = [
    "DEFAULT_SCOPE",
    "REFRESH_MARGIN",
    "InvalidGrantError",
    "OAuthError",
    "OAuthTokenProvider",
    "PKCEPair",
    "authorization_url",
    "exchange_code",
    "generate_pkce",
    "refresh_tokens",
]

logger = logging.getLogger("billabex_async")

AUTHORIZE_PATH = "api/oauth/authorize"
TOKEN_PATH = "api/oauth/token"  # noqa: S105 - a path, not a secret
DEFAULT_SCOPE = "accounts:all"
REFRESH_MARGIN = 300.0  # seconds before expiry at which a token is refreshed
TOKEN_TIMEOUT = 30.0  # seconds for one call to the token endpoint


class OAuthError(AuthRefreshError):
    """The authorization server refused: ``error`` is its OAuth error code."""

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class InvalidGrantError(OAuthError):
    """The refresh token (or code) is expired, revoked or already used: log in again."""


@attrs.frozen
class PKCEPair:
    """A PKCE verifier and its S256 challenge (RFC 7636)."""

    verifier: str = attrs.field(repr=False)
    challenge: str
    method: str = "S256"


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
    endpoint = (
        URL(authorization_endpoint)
        if authorization_endpoint
        else URL(base_url.rstrip("/")) / AUTHORIZE_PATH
    )
    return str(endpoint.update_query(query))


async def _token_request(
    base_url: str,
    form: dict[str, str],
    session: aiohttp.ClientSession | None,
    token_endpoint: str | None = None,
) -> TokenSet:
    url = URL(token_endpoint) if token_endpoint else URL(base_url.rstrip("/")) / TOKEN_PATH
    owned = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with http.post(
            url, data=form, timeout=aiohttp.ClientTimeout(total=TOKEN_TIMEOUT)
        ) as resp:
            text = await resp.text()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise APIConnectionError(
            f"token endpoint unreachable ({type(exc).__name__})", method="POST", path=url.path
        ) from exc
    finally:
        if owned:
            await http.close()
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    if status != 200 or not isinstance(data, dict) or "access_token" not in data:
        error = data.get("error") if isinstance(data, dict) else None
        description = data.get("error_description") if isinstance(data, dict) else None
        if error == "invalid_grant":
            raise InvalidGrantError(
                "the refresh token is expired or revoked: run `billabex login` again",
                error=error,
            )
        raise OAuthError(
            f"token endpoint answered {status}: {error or 'error'}"
            + (f" ({description})" if description else ""),
            error=error if isinstance(error, str) else None,
        )
    return TokenSet(
        access_token=str(data["access_token"]),
        refresh_token=data.get("refresh_token") or form.get("refresh_token"),
        expires_at=time.time() + float(data.get("expires_in", 3600)),
        scope=data.get("scope"),
        token_type=str(data.get("token_type", "Bearer")),
    )


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
    return await _token_request(base_url, form, session, token_endpoint)


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
    """
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    return await _token_request(base_url, form, session, token_endpoint)


class OAuthTokenProvider:
    """A ``TokenProvider`` that keeps an OAuth access token fresh and its store current.

    Refreshes ``REFRESH_MARGIN`` seconds before expiry and when the API answers
    401, one refresh at a time however many requests ask, and saves every new
    token set (a rotated refresh token must not be lost: the old one is dead).
    """

    __slots__ = ("_credentials", "_lock", "_store", "rate_limit_key", "refresh_margin", "refreshes")

    def __init__(
        self,
        credentials: Credentials,
        *,
        store: TokenStore | None = None,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self._credentials = credentials
        self._store = store
        self._lock = asyncio.Lock()
        self.refresh_margin = refresh_margin
        self.refreshes = 0
        # The rate limit is per access token, which changes hourly; one key per
        # login keeps every client of this provider in one window.
        seed = f"{credentials.base_url}|{credentials.client_id}"
        self.rate_limit_key = "oauth-" + hashlib.sha256(seed.encode()).hexdigest()

    @classmethod
    def from_store(cls, store: TokenStore, **kwargs: Any) -> OAuthTokenProvider:
        """The provider for stored credentials; raises ``AuthRefreshError`` if there are none."""
        credentials = store.load()
        if credentials is None:
            raise AuthRefreshError("not logged in: run `billabex login` first")
        return cls(credentials, store=store, **kwargs)

    def __repr__(self) -> str:
        left = self._credentials.tokens.expires_at - time.time()
        return (
            f"<OAuthTokenProvider client_id={self._credentials.client_id!r} expires_in={left:.0f}s>"
        )

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    async def get_token(self) -> str:
        tokens = self._credentials.tokens
        if tokens.expires_within(self.refresh_margin):
            return await self._refresh_if_current(tokens.access_token)
        return tokens.access_token

    async def refresh(self, rejected: str) -> str:
        return await self._refresh_if_current(rejected)

    async def _refresh_if_current(self, stale: str) -> str:
        async with self._lock:
            current = self._credentials.tokens
            if current.access_token != stale and not current.expires_within(self.refresh_margin):
                return current.access_token  # another caller refreshed meanwhile
            if not current.refresh_token:
                raise InvalidGrantError("no refresh token: run `billabex login` again")
            creds = self._credentials
            tokens = await refresh_tokens(
                creds.base_url,
                client_id=creds.client_id,
                client_secret=creds.client_secret,
                refresh_token=current.refresh_token,
                token_endpoint=creds.token_endpoint,
            )
            self._credentials = attrs.evolve(creds, tokens=tokens)
            self.refreshes += 1
            rotated = tokens.refresh_token != current.refresh_token
            logger.info("access token refreshed (refresh token rotated: %s)", rotated)
            if self._store is not None:
                self._store.save(self._credentials)
            return tokens.access_token
