"""Transport layer: OAuth 2.1 tokens — PKCE, code exchange, refresh, storage, provider.

Billabex has no API keys: a person logs in once (authorization code + PKCE,
S256) and a job keeps working with the refresh token (30 days, possibly
rotated at each refresh). ``OAuthTokenProvider`` plugs into
``BillabexClient(token=...)``: it refreshes ahead of expiry (five minutes, or a
tenth of the token's lifetime if that is shorter) and once after a 401, one
refresh at a time, and saves a rotated refresh token (see ``_provider``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets

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
from billabex_async.auth._store import TokenSet

__all__ = [
    "DEFAULT_SCOPE",
    "REFRESH_FRACTION",
    "REFRESH_MARGIN",
    "InvalidGrantError",
    "LoginTimeoutError",
    "OAuthError",
    "OAuthRedirectError",
    "OAuthResponseError",
    "PKCEPair",
    "authorization_url",
    "exchange_code",
    "generate_pkce",
    "refresh_tokens",
]

logger = logging.getLogger("billabex_async")

AUTHORIZE_PATH = "api/oauth/authorize"
DEFAULT_SCOPE = "accounts:all"
REFRESH_MARGIN = 300.0  # at most this many seconds before expiry, a token is refreshed
# ... and at most this share of its lifetime: a 60 s token refreshed 300 s
# early would be refreshed before every request.
REFRESH_FRACTION = 0.1
# ... but never later than this: a token is taken before the request waits
# for its rate-limit slot and crosses the network, and must still be valid
# when the server reads it.
MIN_REFRESH_MARGIN = 1.0


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
    Raises ``InvalidRequestError`` unless the URL is https (or http to loopback).
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
    """
    form = _refresh_form(client_id, client_secret, refresh_token)
    return await token_request(base_url, form, session, token_endpoint=token_endpoint)


def _refresh_form(client_id: str, client_secret: str | None, refresh_token: str) -> dict[str, str]:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    return form
