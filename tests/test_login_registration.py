"""Login with nothing prepared: discovery, registration, then the stored client reused."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from billabex_async import BillabexClient
from billabex_async.auth import FileTokenStore, OAuthTokenProvider, RegistrationError, login
from billabex_async.testing import FakeBillabex

from ._login import Browser, cli_env, play_browser, run_cli
from .conftest import ScriptedServer


async def _login_cli(env: dict[str, str], *options: str) -> str:
    """`billabex [options] login --no-browser`, played through; returns its stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billabex_async",
        *options,
        "login",
        "--no-browser",
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    seen: list[str] = []
    async with asyncio.timeout(30):
        while True:
            line = (await process.stderr.readline()).decode()
            assert line, "login exited before printing the URL: " + "".join(seen)
            seen.append(line)
            if line.startswith("http://"):
                break
        await play_browser(line.strip())
        seen.append((await process.stderr.read()).decode())
        assert await process.wait() == 0, "".join(seen)
    return "".join(seen)


async def test_cli_login_without_a_client_id_registers_then_everything_works(
    tmp_path: Path,
) -> None:
    credentials = tmp_path / "credentials.json"
    async with FakeBillabex(rate_limit=None) as fake:
        fake.oauth.confidential_registrations = True  # so there is a secret to keep hidden
        env = cli_env(fake, credentials)
        output = await _login_cli(env, "-vv")  # DEBUG logs too: still no secret in them

        [client_id] = fake.oauth.registered
        secret = fake.oauth.clients[client_id]
        assert secret is not None
        assert f"Registered OAuth client {client_id}" in output
        stored = json.loads(credentials.read_text())
        for value in (secret, stored["access_token"], stored["refresh_token"]):
            assert value not in output
        assert "registered OAuth client" in output  # the -vv logs did reach stderr
        assert (stored["client_id"], stored["client_secret"]) == (client_id, secret)
        assert stored["token_endpoint"] == f"{fake.url}/api/oauth/token"
        registered = fake.oauth.registered[client_id]
        assert registered["token_endpoint_auth_method"] == "none"  # asked as a public client
        assert registered["client_name"] == "billabex-async CLI"

        fake.add_contact(fake.account_id, full_name="Ada Lovelace", language="en")
        code, listing = await run_cli(env, "contacts", "list", fake.account_id, "--json")
        assert code == 0, listing
        assert "Ada Lovelace" in listing

        code, status = await run_cli(env, "whoami")
        assert code == 0, status
        assert client_id in status
        assert "stored (never shown)" in status
        assert secret not in status

        # The access token expires: the refresh goes out as the registered
        # client (the simulator checks its id and secret) and is stored.
        old = stored["access_token"]
        fake.revoke_token(old)
        stored["expires_at"] = time.time() - 1
        credentials.write_text(json.dumps(stored))
        code, listing = await run_cli(env, "contacts", "list", fake.account_id, "--json")
        assert code == 0, listing
        assert fake.oauth.refreshes == 1
        refreshed = json.loads(credentials.read_text())
        assert refreshed["client_id"] == client_id
        assert refreshed["access_token"] != old
        assert refreshed["refresh_token"] != stored["refresh_token"]

        # A second login reuses the stored client instead of registering another.
        output = await _login_cli(env)
        assert "Registered" not in output
        assert list(fake.oauth.registered) == [client_id]
        assert json.loads(credentials.read_text())["client_id"] == client_id


async def test_cli_login_refuses_a_secret_without_an_id(tmp_path: Path) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        env = cli_env(fake, tmp_path / "credentials.json") | {"BILLABEX_CLIENT_SECRET": "x"}
        code, output = await run_cli(env, "login", "--no-browser")
    assert code == 2
    assert "--client-secret needs --client-id" in output
    assert fake.oauth.registered == {}


@pytest.mark.parametrize("published", [True, False])
async def test_login_in_code_registers_a_public_client(tmp_path: Path, published: bool) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        fake.oauth.publish_metadata = published
        browser = Browser()
        try:
            credentials = await login(fake.url, open_browser=browser.open, approval_timeout=10.0)
        finally:
            await asyncio.gather(*browser.tasks)
        assert browser.landed == [200]
        [client_id] = fake.oauth.registered
        assert credentials.client_id == client_id
        assert credentials.client_secret is None  # a public client: PKCE alone
        uris = fake.oauth.registered[client_id]["redirect_uris"]
        assert isinstance(uris, list)
        assert len(uris) == 1
        assert uris[0].startswith("http://127.0.0.1:")

        store = FileTokenStore(tmp_path / "credentials.json")
        store.save(credentials)
        provider = OAuthTokenProvider.from_store(store)
        async with BillabexClient(provider, base_url=fake.url, rate_limit=None) as client:
            page = await client.contacts.list(fake.account_id)
        assert page.nodes == []


async def test_a_refused_registration_stops_the_login_before_the_browser() -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        browser = Browser()
        with pytest.raises(RegistrationError, match="invalid_client_metadata") as caught:
            # The simulator knows no such scope, so it refuses the registration.
            await login(fake.url, scope="root", open_browser=browser.open, approval_timeout=10.0)
        assert caught.value.error == "invalid_client_metadata"
        assert browser.tasks == []


async def test_login_uses_the_discovered_endpoints(scripted: ScriptedServer) -> None:
    base = scripted.url

    async def server(request: web.Request) -> web.StreamResponse:
        if request.path == "/.well-known/oauth-authorization-server":
            return web.json_response(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/oauth2/authorize",
                    "token_endpoint": f"{base}/oauth2/token",
                    "registration_endpoint": f"{base}/oauth2/clients",
                }
            )
        if request.path == "/oauth2/clients":
            uris = (await request.json())["redirect_uris"]
            return web.json_response({"client_id": "dyn-1", "redirect_uris": uris}, status=201)
        if request.path == "/oauth2/authorize":
            q = request.query
            target = URL(q["redirect_uri"]).with_query(code="c-1", state=q["state"])
            return web.Response(status=302, headers={"Location": str(target)})
        if request.path == "/oauth2/token":
            return web.json_response({"access_token": "a-1", "refresh_token": "r-1"})
        return web.json_response({}, status=404)

    scripted.default = server
    browser = Browser()
    try:
        credentials = await login(base, open_browser=browser.open, approval_timeout=10.0)
    finally:
        await asyncio.gather(*browser.tasks)
    assert [s.path for s in scripted.seen] == [
        "/.well-known/oauth-authorization-server",
        "/oauth2/clients",
        "/oauth2/authorize",
        "/oauth2/token",
    ]
    assert credentials.client_id == "dyn-1"
    # Registered for the exact redirect the login then used.
    assert scripted.seen[1].body["redirect_uris"] == [scripted.seen[2].query["redirect_uri"]]
    assert credentials.token_endpoint == f"{base}/oauth2/token"
    assert scripted.seen[3].body  # the code exchange form
    assert "client_id=dyn-1" in str(scripted.seen[3].body)
