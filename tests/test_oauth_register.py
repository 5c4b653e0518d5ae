"""Dynamic client registration (RFC 7591): the SDK's request and checks, and the simulator's."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from billabex_async import errors
from billabex_async.auth import (
    OAuthError,
    RegisteredClient,
    RegistrationError,
    ServerMetadata,
    register_client,
)
from billabex_async.auth._register import parse_registration
from billabex_async.testing import FakeBillabex

from .conftest import ScriptedServer

REDIRECT = "http://127.0.0.1:8765/callback"


async def test_registers_a_public_pkce_client_with_the_simulator() -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        client = await register_client(fake.url, redirect_uris=[REDIRECT])
        assert client.client_id in fake.oauth.clients
        assert fake.oauth.registered[client.client_id] == {
            "client_name": "billabex-async CLI",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "accounts:all",
        }
    assert client.client_secret is None
    assert client.token_endpoint_auth_method == "none"
    assert client.redirect_uris == (REDIRECT,)
    assert client.scope == "accounts:all"
    assert isinstance(client.client_id_issued_at, int)


async def test_a_secret_the_server_issues_is_kept_and_never_shown() -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        fake.oauth.confidential_registrations = True
        client = await register_client(fake.url, redirect_uris=[REDIRECT], scope="accounts:read")
        secret = fake.oauth.clients[client.client_id]
    assert secret is not None
    assert client.client_secret == secret
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.client_secret_expires_at == 0
    assert secret not in repr(client)


async def test_the_endpoint_comes_from_the_metadata(scripted: ScriptedServer) -> None:
    async def created(request: web.Request) -> web.StreamResponse:
        return web.json_response({"client_id": "c-1", "redirect_uris": [REDIRECT]}, status=201)

    scripted.default = created
    metadata = ServerMetadata(
        issuer=scripted.url,
        authorization_endpoint=scripted.url + "/a",
        token_endpoint=scripted.url + "/t",
        registration_endpoint=scripted.url + "/clients/new",
    )
    client = await register_client(scripted.url, redirect_uris=[REDIRECT], metadata=metadata)
    assert client == RegisteredClient(client_id="c-1", redirect_uris=(REDIRECT,))
    [seen] = scripted.seen
    assert (seen.method, seen.path) == ("POST", "/clients/new")
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.body["redirect_uris"] == [REDIRECT]
    assert seen.body["software_id"] == "billabex-async"


async def test_without_a_registration_endpoint_nothing_is_sent(scripted: ScriptedServer) -> None:
    metadata = ServerMetadata(
        issuer=scripted.url,
        authorization_endpoint=scripted.url + "/a",
        token_endpoint=scripted.url + "/t",
        registration_endpoint=None,
    )
    with pytest.raises(RegistrationError, match="--client-id"):
        await register_client(scripted.url, redirect_uris=[REDIRECT], metadata=metadata)
    assert scripted.seen == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"redirect_uris": REDIRECT}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"redirect_uris": ["http://billabex-cli.example/callback"]}, "redirect_uris"),
        ({"redirect_uris": ["myapp:/callback"]}, "redirect_uris"),
        ({"redirect_uris": ["http://127.0.0.1/cb#frag"]}, "redirect_uris"),
        ({"redirect_uris": [REDIRECT], "client_name": " "}, "client_name"),
        ({"redirect_uris": [REDIRECT], "scope": ""}, "scope"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    scripted: ScriptedServer, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.InvalidRequestError) as caught:
        await register_client(scripted.url, **kwargs)
    assert caught.value.field == field
    assert scripted.seen == []


def _answer(status: int, body: object) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/.well-known/"):
            return web.json_response({}, status=404)  # the known paths, then
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(text=text, status=status, content_type="application/json")

    return handler


SECRET = "s3cr3t-never-shown"


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (201, "not json", "not a JSON object"),
        (201, {"client_secret": SECRET}, "no client_id"),
        (201, {"client_id": 7, "client_secret": SECRET}, "client_id is not a string"),
        (
            201,
            {"client_id": "c", "client_secret": SECRET, "redirect_uris": ["http://x/"]},
            "did not register the redirect",
        ),
        (
            201,
            {"client_id": "c", "client_secret": SECRET, "token_endpoint_auth_method": "tls"},
            "does not speak",
        ),
        (
            201,
            {"client_id": "c", "token_endpoint_auth_method": "client_secret_post"},
            "sent no secret",
        ),
        (201, {"client_id": "c", "client_secret": SECRET, "client_id_issued_at": "x"}, "integer"),
    ],
)
async def test_an_unusable_answer_is_a_typed_error_without_the_secret(
    scripted: ScriptedServer, status: int, body: object, match: str
) -> None:
    scripted.default = _answer(status, body)
    with pytest.raises(RegistrationError, match=match) as caught:
        await register_client(scripted.url, redirect_uris=[REDIRECT])
    assert SECRET not in str(caught.value)
    assert isinstance(caught.value, OAuthError)
    assert scripted.seen[-1].path == "/api/oauth/register"  # the known path, after a 404


async def test_a_refusal_carries_the_rfc_7591_code(scripted: ScriptedServer) -> None:
    body = {"error": "invalid_client_metadata", "error_description": "scope unknown"}
    scripted.default = _answer(400, body)
    with pytest.raises(RegistrationError, match="scope unknown") as caught:
        await register_client(scripted.url, redirect_uris=[REDIRECT])
    assert caught.value.error == "invalid_client_metadata"


async def test_a_closed_registration_says_what_to_do(scripted: ScriptedServer) -> None:
    scripted.default = _answer(401, {"error": "invalid_token"})
    with pytest.raises(RegistrationError, match="--client-id") as caught:
        await register_client(scripted.url, redirect_uris=[REDIRECT])
    assert caught.value.error == "invalid_token"


async def test_a_redirect_is_not_followed(scripted: ScriptedServer) -> None:
    async def moved(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/.well-known/"):
            return web.json_response({}, status=404)
        return web.Response(status=307, headers={"Location": "/api/oauth/register2"})

    scripted.default = moved
    with pytest.raises(RegistrationError, match="redirect"):
        await register_client(scripted.url, redirect_uris=[REDIRECT])
    assert [s.path for s in scripted.seen][-1] == "/api/oauth/register"


# -- the simulator's side -------------------------------------------------------------

PUBLIC = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"redirect_uris": ["http://billabex-cli.example/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://127.0.0.1/cb#x"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"client_name": "no uris"}, "invalid_redirect_uri"),
        ({**PUBLIC, "grant_types": ["password"]}, "invalid_client_metadata"),
        ({**PUBLIC, "grant_types": ["refresh_token"]}, "invalid_client_metadata"),
        ({**PUBLIC, "response_types": ["token"]}, "invalid_client_metadata"),
        ({**PUBLIC, "scope": "root"}, "invalid_client_metadata"),
        ({**PUBLIC, "client_name": 3}, "invalid_client_metadata"),
        ({"redirect_uris": [REDIRECT]}, "invalid_client_metadata"),  # client_secret_basic
        (["not", "an", "object"], "invalid_client_metadata"),
    ],
)
async def test_the_simulator_refuses_bad_client_metadata(body: object, error: str) -> None:
    async with FakeBillabex(rate_limit=None) as fake, aiohttp.ClientSession() as session:
        async with session.post(f"{fake.url}/api/oauth/register", json=body) as resp:
            assert resp.status == 400
            answer = await resp.json()
        assert answer["error"] == error
        assert fake.oauth.registered == {}


async def test_the_base_of_those_cases_is_accepted() -> None:
    # So each refused case above is refused for the one field it changes.
    async with FakeBillabex(rate_limit=None) as fake, aiohttp.ClientSession() as session:
        async with session.post(f"{fake.url}/api/oauth/register", json=PUBLIC) as resp:
            answer = await resp.json()
            assert resp.status == 201
        assert answer["token_endpoint_auth_method"] == "none"
        assert answer["client_id"] in fake.oauth.registered


async def _authorize(
    session: aiohttp.ClientSession, fake: FakeBillabex, client_id: str, redirect: str, **q: str
) -> tuple[int, URL | None, str]:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "state": "s",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **q,
    }
    url = URL(f"{fake.url}/api/oauth/authorize").with_query(query)
    async with session.get(url, allow_redirects=False) as resp:
        location = resp.headers.get("Location")
        return resp.status, None if location is None else URL(location), verifier


async def test_a_registered_client_logs_in_on_any_loopback_port_of_its_redirect() -> None:
    async with FakeBillabex(rate_limit=None) as fake, aiohttp.ClientSession() as session:
        client = await register_client(fake.url, redirect_uris=[REDIRECT])
        other_port = "http://127.0.0.1:40123/callback"
        status, location, verifier = await _authorize(session, fake, client.client_id, other_port)
        assert status == 302
        assert location is not None
        code = location.query["code"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": other_port,
            "client_id": client.client_id,
            "code_verifier": verifier,
        }
        async with session.post(f"{fake.url}/api/oauth/token", data=form) as resp:
            assert resp.status == 200
        other_path = "http://127.0.0.1:40123/elsewhere"
        status, _, _ = await _authorize(session, fake, client.client_id, other_path)
        assert status == 400
        # A token cannot gain scopes: not beyond what was registered.
        status, location, _ = await _authorize(
            session, fake, client.client_id, REDIRECT, scope="accounts:all dunning:manage"
        )
        assert location is not None
        assert location.query["error"] == "invalid_scope"


async def test_codes_expire_after_600_seconds() -> None:
    now = [1000.0]
    async with (
        FakeBillabex(rate_limit=None, clock=lambda: now[0]) as fake,
        aiohttp.ClientSession() as session,
    ):
        results = []
        for wait in (599.0, 601.0):
            cid = fake.oauth_client_id
            _, location, verifier = await _authorize(session, fake, cid, REDIRECT)
            assert location is not None
            now[0] += wait
            form = {
                "grant_type": "authorization_code",
                "code": location.query["code"],
                "redirect_uri": REDIRECT,
                "client_id": cid,
                "client_secret": fake.oauth_client_secret,
                "code_verifier": verifier,
            }
            async with session.post(f"{fake.url}/api/oauth/token", data=form) as resp:
                results.append((resp.status, (await resp.json()).get("error")))
    assert results == [(200, None), (400, "invalid_grant")]


async def test_the_simulator_publishes_protected_resource_metadata() -> None:
    async with FakeBillabex(rate_limit=None) as fake, aiohttp.ClientSession() as session:
        url = f"{fake.url}/.well-known/oauth-protected-resource"
        async with session.get(url) as resp:
            assert resp.status == 200
            document = await resp.json()
        fake.oauth.publish_metadata = False
        async with session.get(url) as resp:
            assert resp.status == 404
    assert document["authorization_servers"] == [fake.url]
    assert document["resource"] == fake.url
    assert "accounts:all" in document["scopes_supported"]


async def test_no_metadata_and_no_registration_says_what_to_do(scripted: ScriptedServer) -> None:
    scripted.default = _answer(404, {"message": "No such endpoint."})
    with pytest.raises(RegistrationError, match="no dynamic client registration"):
        await register_client(scripted.url, redirect_uris=[REDIRECT])
    assert [s.path for s in scripted.seen] == [
        "/.well-known/oauth-authorization-server",
        "/api/oauth/register",
    ]


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=4),
    st.sampled_from(["none", "client_secret_post", "client_secret_basic", "private_key_jwt"]),
    st.lists(st.sampled_from([REDIRECT, "http://x/"]), max_size=2),
)
_PLAIN = st.sampled_from(
    [
        "client_id",
        "client_id_issued_at",
        "client_secret_expires_at",
        "redirect_uris",
        "token_endpoint_auth_method",
        "scope",
    ]
)
# The secret goes only where a server puts secrets; any value anywhere else.
_SECRETS = st.fixed_dictionaries(
    {},
    optional={
        "client_secret": st.just(SECRET) | _VALUES,
        "registration_access_token": st.just(SECRET) | _VALUES,
    },
)


@given(st.tuples(st.dictionaries(_PLAIN, _VALUES), _SECRETS))
def test_any_answer_gives_a_usable_client_or_an_error_without_secrets(
    parts: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    data = parts[0] | parts[1]
    client: RegisteredClient | RegistrationError
    try:
        client = parse_registration(data, requested=[REDIRECT])
    except RegistrationError as exc:
        client = exc
    if isinstance(client, RegistrationError):
        assert SECRET not in str(client)
        return
    assert client.client_id
    assert REDIRECT in client.redirect_uris
    assert client.token_endpoint_auth_method in ("none", "client_secret_post")
    if client.token_endpoint_auth_method == "client_secret_post":
        assert client.client_secret
    assert SECRET not in repr(client)


def test_a_non_object_answer_is_refused() -> None:
    with pytest.raises(RegistrationError, match="not a JSON object"):
        parse_registration([SECRET], requested=[REDIRECT])
