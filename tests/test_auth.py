"""OAuth building blocks: PKCE, URLs, token endpoint calls, storage, the provider."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import keyring
import keyring.backend
import pytest
from aiohttp import web

from billabex_async import errors
from billabex_async.auth import (
    Credentials,
    FileTokenStore,
    InvalidGrantError,
    KeyringTokenStore,
    OAuthError,
    OAuthTokenProvider,
    TokenSet,
    authorization_url,
    generate_pkce,
    refresh_tokens,
)

from .conftest import ScriptedServer


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    pair = generate_pkce()
    assert 43 <= len(pair.verifier) <= 128
    digest = hashlib.sha256(pair.verifier.encode()).digest()
    assert pair.challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert pair.method == "S256"
    assert pair.verifier not in repr(pair)
    assert generate_pkce().verifier != pair.verifier


def test_authorization_url_carries_every_parameter() -> None:
    url = authorization_url(
        "https://next.billabex.com/",
        client_id="cli-123",
        redirect_uri="http://127.0.0.1:5000/callback",
        state="s-1",
        code_challenge="abc",
        scope="accounts:read",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "next.billabex.com",
        "/api/oauth/authorize",
    )
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "response_type": "code",
        "client_id": "cli-123",
        "redirect_uri": "http://127.0.0.1:5000/callback",
        "scope": "accounts:read",
        "state": "s-1",
        "code_challenge": "abc",
        "code_challenge_method": "S256",
    }


def _creds(url: str, *, expires_in: float = 3600.0) -> Credentials:
    tokens = TokenSet(
        access_token="access-0", refresh_token="refresh-0", expires_at=time.time() + expires_in
    )
    return Credentials(base_url=url, client_id="cid", client_secret="shh", tokens=tokens)


def test_the_file_store_is_private_and_round_trips(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "nested" / "credentials.json")
    assert store.load() is None
    creds = _creds("https://next.billabex.com")
    store.save(creds)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.load() == creds
    store.save(_creds("https://other.example"))
    assert [p.name for p in store.path.parent.iterdir()] == ["credentials.json"]  # no temp left
    store.clear()
    assert store.load() is None


def test_secrets_never_show_in_reprs() -> None:
    creds = _creds("https://next.billabex.com")
    provider = OAuthTokenProvider(creds)
    for text in (repr(creds), repr(creds.tokens), repr(provider)):
        for secret in ("access-0", "refresh-0", "shh"):
            assert secret not in text


def token_endpoint(scripted: ScriptedServer, *, rotate: bool = True) -> list[dict[str, str]]:
    """Answer refresh grants like Billabex: a new access token, maybe a new refresh token."""
    forms: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        form = dict(await request.post())
        forms.append({k: str(v) for k, v in form.items()})
        if form.get("refresh_token") == "revoked":
            return web.json_response(
                {"error": "invalid_grant", "error_description": "revoked"}, status=400
            )
        n = len(forms)
        body: dict[str, object] = {"access_token": f"access-{n}", "expires_in": 3600}
        if rotate:
            body["refresh_token"] = f"refresh-{n}"
        return web.json_response(body)

    scripted.default = handler
    return forms


async def test_refresh_sends_the_documented_form(scripted: ScriptedServer) -> None:
    forms = token_endpoint(scripted)
    tokens = await refresh_tokens(
        scripted.url, client_id="cid", client_secret="shh", refresh_token="refresh-0"
    )
    assert forms == [
        {
            "grant_type": "refresh_token",
            "refresh_token": "refresh-0",
            "client_id": "cid",
            "client_secret": "shh",
        }
    ]
    assert scripted.seen[0].path == "/api/oauth/token"
    assert scripted.seen[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert tokens.access_token == "access-1"
    assert tokens.refresh_token == "refresh-1"
    assert not tokens.expires_within(3000)


async def test_an_unrotated_refresh_token_is_kept(scripted: ScriptedServer) -> None:
    token_endpoint(scripted, rotate=False)
    tokens = await refresh_tokens(
        scripted.url, client_id="cid", client_secret=None, refresh_token="refresh-0"
    )
    assert tokens.refresh_token == "refresh-0"


async def test_a_revoked_refresh_token_says_log_in_again(scripted: ScriptedServer) -> None:
    token_endpoint(scripted)
    with pytest.raises(InvalidGrantError, match="billabex login") as caught:
        await refresh_tokens(
            scripted.url, client_id="c", client_secret="s", refresh_token="revoked"
        )
    assert caught.value.error == "invalid_grant"
    assert "revoked" not in str(caught.value).replace("expired or revoked", "")


async def test_an_unreachable_token_endpoint_is_a_connection_error() -> None:
    with pytest.raises(errors.APIConnectionError, match="token endpoint unreachable"):
        await refresh_tokens(
            "http://127.0.0.1:1", client_id="c", client_secret="s", refresh_token="r"
        )


async def test_other_token_endpoint_errors_are_oauth_errors(scripted: ScriptedServer) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "invalid_client"}, status=401)

    scripted.default = broken
    with pytest.raises(OAuthError, match="invalid_client") as caught:
        await refresh_tokens(scripted.url, client_id="c", client_secret="s", refresh_token="r")
    assert not isinstance(caught.value, InvalidGrantError)


async def test_the_provider_refreshes_before_expiry_and_saves_the_rotation(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    token_endpoint(scripted)
    store = FileTokenStore(tmp_path / "c.json")
    provider = OAuthTokenProvider(_creds(scripted.url, expires_in=120.0), store=store)
    # 120 s left is inside the 300 s margin: refresh first.
    tokens = await asyncio.gather(*(provider.get_token() for _ in range(10)))
    assert set(tokens) == {"access-1"}
    assert provider.refreshes == 1
    stored = store.load()
    assert stored is not None
    assert stored.tokens.refresh_token == "refresh-1"
    assert await provider.get_token() == "access-1"  # fresh now: no new refresh
    assert len(scripted.seen) == 1


async def test_the_provider_refreshes_once_per_rejected_token(scripted: ScriptedServer) -> None:
    forms = token_endpoint(scripted)
    provider = OAuthTokenProvider(_creds(scripted.url))
    assert await provider.get_token() == "access-0"
    fresh = await asyncio.gather(*(provider.refresh("access-0") for _ in range(25)))
    assert set(fresh) == {"access-1"}
    assert len(forms) == 1
    assert forms[0]["refresh_token"] == "refresh-0"


def test_from_store_without_a_login_says_so(tmp_path: Path) -> None:
    with pytest.raises(errors.AuthRefreshError, match="billabex login"):
        OAuthTokenProvider.from_store(FileTokenStore(tmp_path / "none.json"))


class _MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend in a dict, so the test touches no real keychain."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


def test_the_keyring_store_round_trips() -> None:
    backend = _MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        store = KeyringTokenStore("work")
        assert store.load() is None
        creds = _creds("https://next.billabex.com")
        store.save(creds)
        assert store.load() == creds
        assert list(backend.entries) == [("billabex-async", "work")]
        store.clear()
        store.clear()
        assert store.load() is None
    finally:
        keyring.set_keyring(previous)
