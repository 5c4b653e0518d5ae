"""Simulator layer: a small OAuth 2.1 authorization server (PKCE, refresh rotation).

``GET /api/oauth/authorize`` approves at once (or denies, when told to) and
redirects to the loopback ``redirect_uri`` with a code; ``POST
/api/oauth/token`` trades a code plus its PKCE verifier, or a refresh token,
for an access token that expires after ``access_token_ttl`` seconds. Refresh
tokens rotate: each one works once; codes work once, within ``code_ttl`` (600 s,
as Billabex documents). ``/.well-known/oauth-authorization-server`` (RFC 8414)
and ``/.well-known/oauth-protected-resource`` (RFC 9728) describe it, and
``POST /api/oauth/register`` registers clients (RFC 7591; checks in
``_registration``): their redirect URIs and scopes then bind their logins.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time

import attrs
from aiohttp import web
from yarl import URL

from billabex_async.testing._core import Core
from billabex_async.testing._gate import BODY
from billabex_async.testing._registration import (
    RegistrationRefused,
    redirect_allowed,
    resource_metadata,
    server_metadata,
    validate_registration,
)

__all__ = ["OAuthServer"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@attrs.define
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scopes: tuple[str, ...]
    issued: float  # core.clock() seconds


def _error(error: str, description: str, status: int = 400) -> web.Response:
    body = json.dumps({"error": error, "error_description": description})
    return web.Response(text=body, status=status, content_type="application/json")


def _redirect(location: URL) -> web.Response:
    # Returned, not raised: the simulator's middleware turns raised HTTP
    # exceptions into JSON errors.
    return web.Response(status=302, headers={"Location": str(location)})


@attrs.define(eq=False)
class OAuthServer:
    """OAuth state of one simulator: clients, pending codes, live refresh tokens."""

    core: Core
    access_token_ttl: float = 3600.0
    rotate_refresh_tokens: bool = True
    deny: bool = False
    """When True, /authorize answers as if the user refused consent."""
    clients: dict[str, str | None] = attrs.field(factory=dict)
    codes: dict[str, _Grant] = attrs.field(factory=dict)
    refresh_tokens: dict[str, tuple[str, tuple[str, ...]]] = attrs.field(factory=dict)
    refreshes: int = 0
    """Refresh grants served, for tests: one per access-token expiry."""
    code_ttl: float = 600.0
    publish_metadata: bool = True
    """When False, the /.well-known documents answer 404, as on a server without them."""
    confidential_registrations: bool = False
    """When True, every registered client gets a secret, even one that asked for none."""
    registered: dict[str, dict[str, object]] = attrs.field(factory=dict)
    """Dynamically registered clients: client_id -> the metadata registered (no secret)."""

    def register_client(self, client_id: str, client_secret: str | None = None) -> None:
        self.clients[client_id] = client_secret

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/oauth/authorize", self.authorize, allow_head=False)
        app.router.add_post("/api/oauth/token", self.token)
        app.router.add_post("/api/oauth/register", self.register)
        app.router.add_get(
            "/.well-known/oauth-authorization-server", self.metadata, allow_head=False
        )
        app.router.add_get("/.well-known/oauth-protected-resource", self.metadata, allow_head=False)

    async def metadata(self, request: web.Request) -> web.Response:
        if not self.publish_metadata:
            return _error("not_found", "no metadata published", 404)
        base = str(request.url.origin())
        document = (
            server_metadata(base)
            if request.path.endswith("authorization-server")
            else resource_metadata(base)
        )
        return web.Response(text=json.dumps(document), content_type="application/json")

    async def register(self, request: web.Request) -> web.Response:
        try:
            metadata = validate_registration(request[BODY])
        except RegistrationRefused as exc:
            return _error(exc.error, exc.description)
        client_id = "bbx_client_" + secrets.token_urlsafe(12)
        answer = {**metadata, "client_id": client_id, "client_id_issued_at": int(time.time())}
        secret = None
        public = metadata["token_endpoint_auth_method"] == "none"  # noqa: S105 - a method name
        if not public or self.confidential_registrations:
            secret = "bbx_secret_" + secrets.token_urlsafe(24)
            answer |= {
                "client_secret": secret,
                "client_secret_expires_at": 0,
                "token_endpoint_auth_method": "client_secret_post",
            }
        self.clients[client_id] = secret
        self.registered[client_id] = metadata
        return web.Response(text=json.dumps(answer), status=201, content_type="application/json")

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        if client_id not in self.clients:
            return _error("invalid_client", "unknown client_id", 401)
        target = URL(redirect_uri)
        if target.host not in _LOOPBACK or target.scheme != "http":
            return _error("invalid_request", "redirect_uri must be a loopback http URL")
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return _error("invalid_request", "needs response_type=code and S256 PKCE")
        registered = self.registered.get(client_id)
        if registered is not None:
            uris = registered["redirect_uris"]
            assert isinstance(uris, list)
            if not redirect_allowed(uris, redirect_uri):
                return _error("invalid_request", "redirect_uri is not registered for this client")
        state = q.get("state", "")
        if self.deny:
            return _redirect(target.update_query(error="access_denied", state=state))
        code = secrets.token_urlsafe(16)
        scopes = tuple(q.get("scope", "accounts:all").split())
        if registered is not None and not set(scopes) <= set(str(registered["scope"]).split()):
            return _redirect(target.update_query(error="invalid_scope", state=state))
        self.codes[code] = _Grant(
            client_id, redirect_uri, q.get("code_challenge", ""), scopes, self.core.clock()
        )
        return _redirect(target.update_query(code=code, state=state))

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id = str(form.get("client_id", ""))
        if client_id not in self.clients:
            return _error("invalid_client", "unknown client_id", 401)
        secret = self.clients[client_id]
        if secret is not None and form.get("client_secret") != secret:
            return _error("invalid_client", "bad client_secret", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = self.codes.pop(str(form.get("code", "")), None)  # single use
            if grant is None or grant.client_id != client_id:
                return _error("invalid_grant", "unknown or used code")
            if self.core.clock() - grant.issued > self.code_ttl:
                return _error("invalid_grant", "the code expired")
            if form.get("redirect_uri") != grant.redirect_uri:
                return _error("invalid_grant", "redirect_uri differs from the authorization")
            verifier = str(form.get("code_verifier", ""))
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
                return _error("invalid_grant", "PKCE verifier does not match")
            return self._issue(client_id, grant.scopes, refresh_token=None)
        if grant_type == "refresh_token":
            presented = str(form.get("refresh_token", ""))
            owner = self.refresh_tokens.get(presented)
            if owner is None or owner[0] != client_id:
                return _error("invalid_grant", "refresh token expired, revoked or already used")
            self.refreshes += 1
            if self.rotate_refresh_tokens:
                del self.refresh_tokens[presented]
                return self._issue(client_id, owner[1], refresh_token=None)
            return self._issue(client_id, owner[1], refresh_token=presented)
        return _error("unsupported_grant_type", f"grant_type {grant_type!r}")

    def _issue(
        self, client_id: str, scopes: tuple[str, ...], *, refresh_token: str | None
    ) -> web.Response:
        access = self.core.issue_token(scopes, lifetime=self.access_token_ttl)
        body: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "scope": " ".join(scopes),
        }
        if refresh_token is None:  # a new one: first login, or rotation
            refresh_token = "bbx_refresh_" + secrets.token_urlsafe(24)
            self.refresh_tokens[refresh_token] = (client_id, scopes)
            body["refresh_token"] = refresh_token
        return web.Response(text=json.dumps(body), content_type="application/json")
