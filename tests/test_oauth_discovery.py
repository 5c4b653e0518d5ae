"""OAuth server metadata (RFC 8414): read, checked, and the known paths when absent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from billabex_async import errors
from billabex_async.auth import DiscoveryError, OAuthError, ServerMetadata, discover
from billabex_async.auth._discovery import parse_metadata
from billabex_async.testing import FakeBillabex

from .conftest import ScriptedServer

BASE = "https://next.billabex.com"


def _document(base: str, **overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": f"{base}/oauth2/token",
        "registration_endpoint": f"{base}/oauth2/register",
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
    }
    document.update(overrides)
    return {k: v for k, v in document.items() if v is not None}


def _serve(scripted: ScriptedServer, body: object, status: int = 200) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(text=text, status=status, content_type="application/json")

    scripted.default = handler


async def test_the_simulators_metadata_names_its_endpoints() -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        metadata = await discover(fake.url)
    assert metadata == ServerMetadata(
        issuer=fake.url,
        authorization_endpoint=f"{fake.url}/api/oauth/authorize",
        token_endpoint=f"{fake.url}/api/oauth/token",
        registration_endpoint=f"{fake.url}/api/oauth/register",
        scopes_supported=metadata.scopes_supported,
        code_challenge_methods_supported=("S256",),
        token_endpoint_auth_methods_supported=("none", "client_secret_post"),
        published=True,
    )
    assert metadata.scopes_supported is not None
    assert {"accounts:read", "accounts:all"} <= set(metadata.scopes_supported)


async def test_discovered_endpoints_are_the_ones_used(scripted: ScriptedServer) -> None:
    _serve(scripted, _document(scripted.url))
    metadata = await discover(scripted.url + "/")
    assert scripted.seen[0].path == "/.well-known/oauth-authorization-server"
    assert scripted.seen[0].headers["Accept"] == "application/json"
    assert metadata.token_endpoint == f"{scripted.url}/oauth2/token"
    assert metadata.registration_endpoint == f"{scripted.url}/oauth2/register"
    assert metadata.published


async def test_a_simulator_without_metadata_gets_the_known_paths() -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        fake.oauth.publish_metadata = False
        metadata = await discover(fake.url)
    assert metadata == ServerMetadata.known_paths(fake.url)
    assert not metadata.published
    assert metadata.token_endpoint == f"{fake.url}/api/oauth/token"
    assert metadata.authorization_endpoint == f"{fake.url}/api/oauth/authorize"
    assert metadata.registration_endpoint == f"{fake.url}/api/oauth/register"


@pytest.mark.parametrize("status", [404, 410])
async def test_absent_metadata_falls_back(scripted: ScriptedServer, status: int) -> None:
    _serve(scripted, {"message": "no such page"}, status)
    metadata = await discover(scripted.url)
    assert not metadata.published
    assert metadata.token_endpoint == f"{scripted.url}/api/oauth/token"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("<html>maintenance</html>", "not JSON"),
        (["issuer"], "not a JSON object"),
        ({"issuer": "X"}, "issuer"),
        ("MISSING_TOKEN", "token_endpoint"),
        ("BAD_LIST", "code_challenge_methods_supported"),
        ("PLAIN_ONLY", "S256"),
        ("PORT_99999", "token_endpoint"),
    ],
)
async def test_malformed_metadata_is_a_typed_error_not_a_fallback(
    scripted: ScriptedServer, body: object, match: str
) -> None:
    base = scripted.url
    documents: dict[str, object] = {
        "MISSING_TOKEN": _document(base, token_endpoint=None),
        "BAD_LIST": _document(base, code_challenge_methods_supported="S256"),
        "PLAIN_ONLY": _document(base, code_challenge_methods_supported=["plain"]),
        "PORT_99999": _document(base, token_endpoint="http://127.0.0.1:99999/token"),
    }
    _serve(scripted, documents.get(body, body) if isinstance(body, str) else body)
    with pytest.raises(DiscoveryError, match=match) as caught:
        await discover(base)
    assert isinstance(caught.value, OAuthError)
    assert isinstance(caught.value, errors.BillabexError)


async def test_an_issuer_other_than_the_base_url_is_refused(scripted: ScriptedServer) -> None:
    _serve(scripted, _document(scripted.url, issuer="https://login.billabex.example"))
    with pytest.raises(DiscoveryError, match="issuer"):
        await discover(scripted.url)


async def test_a_server_error_is_not_taken_for_absent_metadata(scripted: ScriptedServer) -> None:
    _serve(scripted, {"message": "boom"}, 503)
    with pytest.raises(DiscoveryError, match="503"):
        await discover(scripted.url)


async def test_a_redirect_is_not_followed(scripted: ScriptedServer) -> None:
    async def moved(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    scripted.script(moved)
    _serve(scripted, _document(scripted.url))  # what a follower would have read
    with pytest.raises(DiscoveryError, match="redirect"):
        await discover(scripted.url)
    assert [s.path for s in scripted.seen] == ["/.well-known/oauth-authorization-server"]


async def test_an_oversized_document_is_refused(scripted: ScriptedServer) -> None:
    _serve(scripted, _document(scripted.url, padding="x" * 70_000))
    with pytest.raises(DiscoveryError, match="larger"):
        await discover(scripted.url)


def test_an_http_endpoint_off_loopback_is_refused() -> None:
    document = _document(BASE, token_endpoint="http://next.billabex.com/api/oauth/token")
    with pytest.raises(DiscoveryError, match="not https"):
        parse_metadata(document, BASE)


def test_an_endpoint_on_another_host_is_refused() -> None:
    document = _document(BASE, token_endpoint="https://collector.example/api/oauth/token")
    with pytest.raises(DiscoveryError, match="another origin"):
        parse_metadata(document, BASE)


def test_loopback_http_endpoints_are_accepted() -> None:
    base = "http://127.0.0.1:8080"
    assert parse_metadata(_document(base), base).token_endpoint == f"{base}/oauth2/token"


def test_an_explicit_default_port_is_the_same_origin() -> None:
    document = _document(BASE, token_endpoint="https://NEXT.billabex.com:443/api/oauth/token")
    assert parse_metadata(document, BASE).token_endpoint.endswith(":443/api/oauth/token")
    other_port = _document(BASE, token_endpoint="https://next.billabex.com:8443/api/oauth/token")
    with pytest.raises(DiscoveryError, match="another origin"):
        parse_metadata(other_port, BASE)


def test_a_trailing_slash_on_the_issuer_is_forgiven() -> None:
    assert parse_metadata(_document(BASE, issuer=BASE + "/"), BASE).issuer == BASE


@pytest.mark.parametrize("base", ["http://billabex.example", "ftp://127.0.0.1", "next.billabex"])
async def test_an_insecure_base_url_is_refused_before_sending(base: str) -> None:
    with pytest.raises(errors.InvalidRequestError, match="base_url") as caught:
        await discover(base)
    assert caught.value.field == "base_url"


async def test_an_unreachable_server_is_a_connection_error(scripted: ScriptedServer) -> None:
    url = scripted.url
    await scripted.server.close()
    with pytest.raises(errors.APIConnectionError, match="unreachable"):
        await discover(url)


def test_the_metadata_url_follows_rfc_8414_for_a_base_with_a_path() -> None:
    from billabex_async.auth._discovery import metadata_url

    assert metadata_url("https://h.example/tenant/") == URL(
        "https://h.example/.well-known/oauth-authorization-server/tenant"
    )


_URLS = st.sampled_from(
    [
        BASE,
        BASE + "/",
        BASE + "/api/oauth/token",
        BASE + ":8443/api/oauth/token",
        "http://next.billabex.com/api/oauth/token",
        "https://evil.example/api/oauth/token",
        "https://next.billabex.com.evil.example/x",
        "http://127.0.0.1/x",
        "https://next.billabex.com/x#frag",
        "/api/oauth/token",
        "https://[::1/x",
        "",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)
_KEYS = st.sampled_from(
    [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
        "scopes_supported",
        "code_challenge_methods_supported",
        "token_endpoint_auth_methods_supported",
    ]
)
_VALUES = _URLS | _JSON | st.lists(st.sampled_from(["S256", "plain", "none"]), max_size=3)


@given(st.dictionaries(_KEYS, _VALUES) | _JSON)
def test_any_document_is_accepted_only_when_every_endpoint_is_trusted(data: Any) -> None:
    try:
        metadata = parse_metadata(data, BASE)
    except DiscoveryError:
        return
    assert metadata.issuer == BASE
    endpoints = [metadata.authorization_endpoint, metadata.token_endpoint]
    if metadata.registration_endpoint is not None:
        endpoints.append(metadata.registration_endpoint)
    for endpoint in endpoints:
        url = URL(endpoint)
        assert url.scheme == "https"
        assert (url.scheme, url.host, url.port) == ("https", "next.billabex.com", 443)
        assert not url.fragment
    assert "S256" in metadata.code_challenge_methods_supported


def test_the_authorization_url_uses_the_discovered_endpoint() -> None:
    from billabex_async.auth import authorization_url

    url = URL(
        authorization_url(
            BASE,
            client_id="c",
            redirect_uri="http://127.0.0.1:1/callback",
            state="s",
            code_challenge="x",
            authorization_endpoint=BASE + "/oauth2/authorize?tenant=t",
        )
    )
    assert url.path == "/oauth2/authorize"
    assert url.query["tenant"] == "t"  # a query the endpoint carries is kept
    assert url.query["client_id"] == "c"


async def test_refreshes_go_to_the_stored_token_endpoint(scripted: ScriptedServer) -> None:
    from billabex_async.auth import Credentials, OAuthTokenProvider, TokenSet

    async def token(request: web.Request) -> web.StreamResponse:
        return web.json_response({"access_token": "access-1", "expires_in": 3600})

    scripted.default = token
    tokens = TokenSet(access_token="access-0", refresh_token="r-0", expires_at=0.0)
    credentials = Credentials(
        base_url=scripted.url,
        client_id="registered-1",
        client_secret=None,
        tokens=tokens,
        token_endpoint=scripted.url + "/oauth2/token",
    )
    provider = OAuthTokenProvider(credentials)
    assert await provider.get_token() == "access-1"
    [seen] = scripted.seen
    assert seen.path == "/oauth2/token"
    assert "client_id=registered-1" in str(seen.body)
    assert provider.credentials.token_endpoint == scripted.url + "/oauth2/token"
