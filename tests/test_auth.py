"""OAuth building blocks: PKCE, URLs, token endpoint calls, storage, the provider."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import socket
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import keyring
import keyring.backend
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from billabex_async import errors
from billabex_async.auth import (
    Credentials,
    FileTokenStore,
    InvalidGrantError,
    KeyringTokenStore,
    LoginTimeoutError,
    OAuthError,
    OAuthRedirectError,
    OAuthResponseError,
    OAuthTokenProvider,
    ServerMetadata,
    TokenSet,
    authorization_url,
    exchange_code,
    generate_pkce,
    login,
    refresh_tokens,
)

from .conftest import Handler, ScriptedServer


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
        backend.set_password("billabex-async", "work", "{not json")
        with pytest.raises(errors.AuthRefreshError, match="billabex login"):
            store.load()
    finally:
        keyring.set_keyring(previous)


# --- answers that do not fit, secrets, insecure URLs, redirects --------------------


def _answer(body: object, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if isinstance(body, bytes):
            return web.Response(body=body, status=status, content_type="application/json")
        return web.json_response(body, status=status)

    return handler


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "access-1", "expires_in": "soon"},
        {"access_token": "access-1", "expires_in": None},
        {"access_token": "access-1", "expires_in": -5},
        {"access_token": "access-1", "expires_in": 1e12},
        {"access_token": "access-1", "expires_in": float("inf")},
        {"access_token": "access-1", "expires_in": True},
        {"access_token": None, "expires_in": 3600},
        {"expires_in": 3600},
        {"access_token": 123, "expires_in": 3600},
        {"access_token": "", "expires_in": 3600},
        {"access_token": "access 1", "expires_in": 3600},
        {"access_token": "access-1\n", "expires_in": 3600},
        {"access_token": "access-1", "refresh_token": 5},
        {"access_token": "access-1", "refresh_token": ["r"]},
        [{"access_token": "access-1"}],
        b"<html>Gateway</html>",
        b"\xff\xfe{}",
        b"",
    ],
    ids=repr,
)
async def test_token_answers_that_do_not_fit_are_typed_errors(
    scripted: ScriptedServer, tmp_path: Path, body: object
) -> None:
    scripted.default = _answer(body)
    with pytest.raises(OAuthResponseError) as caught:
        await refresh_tokens(scripted.url, client_id="c", client_secret="s", refresh_token="r-0")
    assert isinstance(caught.value, errors.BillabexError)
    assert caught.value.status == 200
    # Through the provider: the failed refresh keeps the stored credentials.
    store = FileTokenStore(tmp_path / "c.json")
    creds = _creds(scripted.url, expires_in=10.0)
    store.save(creds)
    provider = OAuthTokenProvider(creds, store=store)
    with pytest.raises(OAuthResponseError):
        await provider.get_token()
    assert provider.credentials == creds
    assert store.load() == creds


async def test_a_numeric_string_lifetime_and_no_lifetime_are_accepted(
    scripted: ScriptedServer,
) -> None:
    scripted.script(
        _answer({"access_token": "a-1", "expires_in": "60"}), _answer({"access_token": "a-2"})
    )
    first = await refresh_tokens(scripted.url, client_id="c", client_secret=None, refresh_token="r")
    second = await refresh_tokens(
        scripted.url, client_id="c", client_secret=None, refresh_token="r"
    )
    assert first.lifetime == 60.0
    assert second.lifetime == 3600.0  # RFC 6749: expires_in is optional


SECRETS = {
    "client_secret": "cs-S3cr3t/with+chars",
    "refresh_token": "rt-9f8e7d6c5b4a",
    "code": "code-1a2b3c4d",
    "code_verifier": "verifier-zyxwvutsrq",
}


def _echoing(scripted: ScriptedServer, *, raw: bool) -> None:
    """A token endpoint that quotes what it was sent back in its error."""

    async def handler(request: web.Request) -> web.StreamResponse:
        form = await request.text() if raw else json.dumps(dict(await request.post()))
        body = {"error": "invalid_client", "error_description": f"rejected: {form}"}
        return web.json_response(body, status=401)

    scripted.default = handler


@pytest.mark.parametrize("raw", [False, True], ids=["decoded", "url-encoded"])
async def test_an_echoing_token_endpoint_leaks_no_secret(
    scripted: ScriptedServer, raw: bool
) -> None:
    _echoing(scripted, raw=raw)
    with pytest.raises(OAuthError) as refreshed:
        await refresh_tokens(
            scripted.url,
            client_id="cid",
            client_secret=SECRETS["client_secret"],
            refresh_token=SECRETS["refresh_token"],
        )
    with pytest.raises(OAuthError) as exchanged:
        await exchange_code(
            scripted.url,
            client_id="cid",
            client_secret=SECRETS["client_secret"],
            code=SECRETS["code"],
            redirect_uri="http://127.0.0.1:1/callback",
            code_verifier=SECRETS["code_verifier"],
        )
    for caught in (refreshed, exchanged):
        text = str(caught.value)
        assert "***" in text
        assert "cid" in text  # the rest of the server's words still show
        for secret in SECRETS.values():
            assert secret not in text
            assert secret.replace("/", "%2F").replace("+", "%2B") not in text


async def test_an_oauth_error_code_that_echoes_a_secret_is_redacted(
    scripted: ScriptedServer,
) -> None:
    scripted.default = _answer({"error": "rt-9f8e7d6c5b4a"}, status=400)
    with pytest.raises(OAuthError) as caught:
        await refresh_tokens(
            scripted.url, client_id="c", client_secret=None, refresh_token="rt-9f8e7d6c5b4a"
        )
    assert "rt-9f8e7d6c5b4a" not in str(caught.value)
    assert caught.value.error is not None
    assert "rt-9f8e7d6c5b4a" not in caught.value.error


class _Everything(AbstractResolver):
    """Resolves every host name to the scripted server, so nothing leaves the machine."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


async def test_plain_http_to_another_host_sends_nothing(scripted: ScriptedServer) -> None:
    port = scripted.server.port
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_Everything())) as s:
        # The session does reach the server under any name: a request that
        # were sent would be seen.
        async with s.get(f"http://auth.billabex.example:{port}/probe") as probe:
            assert probe.status == 500
        assert len(scripted.seen) == 1
        url = f"http://auth.billabex.example:{port}"
        with pytest.raises(errors.InvalidRequestError, match="https") as caught:
            await refresh_tokens(
                url, client_id="c", client_secret="cs-top", refresh_token="r", session=s
            )
        assert caught.value.field == "base_url"
        with pytest.raises(errors.InvalidRequestError, match="https"):
            await exchange_code(
                url,
                client_id="c",
                client_secret="cs-top",
                code="k",
                redirect_uri="http://127.0.0.1:1/cb",
                code_verifier="v",
                session=s,
            )
    assert len(scripted.seen) == 1
    with pytest.raises(errors.InvalidRequestError, match="https"):
        authorization_url(url, client_id="c", redirect_uri="x", state="s", code_challenge="c")


async def test_login_to_an_insecure_host_opens_no_browser() -> None:
    opened: list[str] = []
    with pytest.raises(errors.InvalidRequestError, match="https"):
        await login(
            "http://billabex.example",
            client_id="c",
            open_browser=opened.append,
            approval_timeout=1.0,
        )
    assert opened == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirecting_token_endpoint_is_not_followed(
    scripted: ScriptedServer, status: int
) -> None:
    async def moved(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": f"{scripted.url}/steal"})

    scripted.script(moved)
    with pytest.raises(OAuthRedirectError) as caught:
        await refresh_tokens(scripted.url, client_id="c", client_secret="cs", refresh_token="r")
    assert caught.value.status == status
    assert caught.value.location_host == "127.0.0.1"
    assert f"{status}" in str(caught.value)
    assert "127.0.0.1" in str(caught.value)
    assert [s.path for s in scripted.seen] == ["/api/oauth/token"]


async def test_a_login_nobody_approves_times_out_typed() -> None:
    with pytest.raises(LoginTimeoutError) as caught:
        await login(
            "http://127.0.0.1:1",
            client_id="c",
            open_browser=lambda url: None,
            approval_timeout=0.01,
            metadata=ServerMetadata.known_paths("http://127.0.0.1:1"),  # nothing to discover
        )
    assert isinstance(caught.value, errors.BillabexError)
    assert isinstance(caught.value, TimeoutError)


# --- stored credentials ------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_readable_credentials_file_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    store = FileTokenStore(tmp_path / "credentials.json")
    creds = _creds("https://next.billabex.com")
    store.save(creds)
    store.path.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="billabex_async"):
        assert store.load() == creds
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "tightened to 0600" in caplog.text
    for secret in ("access-0", "refresh-0", "shh"):
        assert secret not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="billabex_async"):
        store.load()
    assert caplog.records == []  # once tightened, nothing more to say


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"access_token": null, "expires_at": 1, "base_url": "x", "client_id": "c"}',
    ],
)
def test_a_damaged_credentials_file_is_a_typed_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(errors.AuthRefreshError, match="billabex login"):
        FileTokenStore(path).load()


def test_the_token_lifetime_survives_the_store(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "c.json")
    tokens = TokenSet(access_token="a", refresh_token="r", expires_at=1060.0, issued_at=1000.0)
    creds = Credentials(base_url="https://x.test", client_id="c", client_secret=None, tokens=tokens)
    store.save(creds)
    loaded = store.load()
    assert loaded == creds
    assert loaded.tokens.lifetime == 60.0


# --- the refresh margin follows the token's lifetime -------------------------------


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _issued(url: str, clock: _Clock, lifetime: float) -> Credentials:
    tokens = TokenSet(
        access_token="access-0",
        refresh_token="refresh-0",
        expires_at=clock.now + lifetime,
        issued_at=clock.now,
    )
    return Credentials(base_url=url, client_id="cid", client_secret=None, tokens=tokens)


def _lifetime_endpoint(scripted: ScriptedServer, lifetime: float) -> list[str]:
    forms: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        forms.append(str((await request.post())["refresh_token"]))
        n = len(forms)
        body = {
            "access_token": f"access-{n}",
            "refresh_token": f"refresh-{n}",
            "expires_in": lifetime,
        }
        return web.json_response(body)

    scripted.default = handler
    return forms


async def test_a_60_second_token_is_refreshed_shortly_before_expiry_not_on_each_call(
    scripted: ScriptedServer,
) -> None:
    clock = _Clock(1_000_000.0)
    forms = _lifetime_endpoint(scripted, 60)
    provider = OAuthTokenProvider(_issued(scripted.url, clock, 60.0), clock=clock)
    assert provider.margin(provider.credentials.tokens) == 6.0
    for at in (0.0, 10.0, 30.0, 53.0, 53.9):
        clock.now = 1_000_000.0 + at
        assert await provider.get_token() == "access-0", at
    assert forms == []
    clock.now = 1_000_000.0 + 54.5  # 5.5 s left, inside the 6 s margin
    assert await provider.get_token() == "access-1"
    assert forms == ["refresh-0"]
    assert provider.credentials.tokens.expires_at == clock.now + 60
    for at in (55.0, 80.0, 108.0):
        clock.now = 1_000_000.0 + at
        assert await provider.get_token() == "access-1", at
    assert len(forms) == 1


async def test_an_hour_token_keeps_the_five_minute_margin(scripted: ScriptedServer) -> None:
    clock = _Clock(5_000.0)
    forms = _lifetime_endpoint(scripted, 3600)
    provider = OAuthTokenProvider(_issued(scripted.url, clock, 3600.0), clock=clock)
    clock.now += 3600 - 301
    assert await provider.get_token() == "access-0"
    clock.now += 2
    assert await provider.get_token() == "access-1"
    assert len(forms) == 1
