"""Proxies: the client's own session honours HTTPS_PROXY/NO_PROXY and ``proxy=``.

A real TLS server (a test CA from trustme) and a real CONNECT proxy, both on
127.0.0.1. The client runs in a subprocess so that its default TLS context
trusts the test CA through ``SSL_CERT_FILE``, exactly as a user's would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trustme
from aiohttp import web

from billabex_async import BillabexClient, errors

TOKEN = "sk-proxy-test-5e1f0a9c"
ACCOUNT = "0b9f6a5e-8f43-4c1b-9d1a-3f1f7e2a6c10"

CLIENT_SCRIPT = """
import asyncio, os, sys
from billabex_async import BillabexClient

async def main() -> None:
    proxy = os.environ.get("TEST_EXPLICIT_PROXY")
    async with BillabexClient(
        os.environ["TEST_TOKEN"], base_url=sys.argv[1], rate_limit=None, proxy=proxy,
        max_retries=0,
    ) as client:
        page = await client.contacts.list(sys.argv[2])
    print(len(page.nodes))

asyncio.run(main())
"""


@attrs.define
class Proxy:
    """A CONNECT-only forward proxy that records every request head it reads."""

    heads: list[bytes] = attrs.field(factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        self.heads.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
        if method != b"CONNECT":
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        host, port = target.rsplit(b":", 1)
        up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@attrs.define
class Setup:
    base_url: str
    ca_file: Path
    proxy: Proxy
    seen_auth: list[str]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    seen_auth: list[str] = []

    async def contacts(request: web.Request) -> web.Response:
        seen_auth.append(request.headers.get("Authorization", ""))
        return web.json_response({"nodes": [], "pageInfo": {"endCursor": None}})

    app = web.Application()
    app.router.add_get("/api/public/v1/accounts/{account}/contacts", contacts)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    server_port = runner.addresses[0][1]
    proxy = Proxy()
    proxy_server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = proxy_server.sockets[0].getsockname()[1]
    try:
        yield Setup(f"https://localhost:{server_port}", ca_file, proxy, seen_auth)
    finally:
        proxy_server.close()
        await runner.cleanup()


async def run_client(setup: Setup, **env: str) -> tuple[int, str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BILLABEX_")
        and k.lower() not in {"https_proxy", "http_proxy", "all_proxy", "no_proxy"}
    }
    clean |= {"SSL_CERT_FILE": str(setup.ca_file), "TEST_TOKEN": TOKEN} | env
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT_SCRIPT,
        setup.base_url,
        ACCOUNT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_https_proxy_from_the_environment_tunnels_without_seeing_the_token(
    setup: Setup,
) -> None:
    code, out, err = await run_client(setup, HTTPS_PROXY=f"http://127.0.0.1:{setup.proxy.port}")
    assert (code, out.strip()) == (0, "0"), err
    assert len(setup.proxy.heads) == 1
    head = setup.proxy.heads[0]
    assert head.startswith(b"CONNECT localhost:")
    assert TOKEN.encode() not in head  # the proxy sees the tunnel, never the token
    assert setup.seen_auth == [f"Bearer {TOKEN}"]  # the server, through the tunnel, does


async def test_no_proxy_bypasses_the_environment_proxy(setup: Setup) -> None:
    code, out, err = await run_client(
        setup, HTTPS_PROXY=f"http://127.0.0.1:{setup.proxy.port}", NO_PROXY="localhost"
    )
    assert (code, out.strip()) == (0, "0"), err
    assert setup.proxy.heads == []
    assert setup.seen_auth == [f"Bearer {TOKEN}"]


async def test_an_explicit_proxy_is_used_without_any_environment(setup: Setup) -> None:
    code, out, err = await run_client(
        setup, TEST_EXPLICIT_PROXY=f"http://127.0.0.1:{setup.proxy.port}"
    )
    assert (code, out.strip()) == (0, "0"), err
    assert len(setup.proxy.heads) == 1
    assert setup.proxy.heads[0].startswith(b"CONNECT localhost:")


def write_netrc(tmp_path: Path) -> dict[str, str]:
    """A netrc whose ``default`` entry matches every host, as HOME and NETRC see it."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login netrc-user password netrc-secret\n")
    netrc.chmod(0o600)
    return {"HOME": str(tmp_path), "NETRC": str(netrc)}


async def test_a_netrc_default_entry_neither_breaks_a_request_nor_adds_credentials(
    setup: Setup, tmp_path: Path
) -> None:
    code, out, err = await run_client(setup, **write_netrc(tmp_path))
    assert (code, out.strip()) == (0, "0"), err
    assert setup.seen_auth == [f"Bearer {TOKEN}"]


async def test_a_netrc_default_entry_gives_the_proxy_no_credentials(
    setup: Setup, tmp_path: Path
) -> None:
    env = write_netrc(tmp_path) | {"HTTPS_PROXY": f"http://127.0.0.1:{setup.proxy.port}"}
    code, out, err = await run_client(setup, **env)
    assert (code, out.strip()) == (0, "0"), err
    assert len(setup.proxy.heads) == 1
    assert b"proxy-authorization" not in setup.proxy.heads[0].lower()
    assert setup.seen_auth == [f"Bearer {TOKEN}"]


async def test_credentials_in_the_environment_proxy_url_go_to_the_proxy_only(
    setup: Setup,
) -> None:
    proxy = f"http://proxy-user:proxy-pass@127.0.0.1:{setup.proxy.port}"
    code, out, err = await run_client(setup, https_proxy=proxy)
    assert (code, out.strip()) == (0, "0"), err
    basic = base64.b64encode(b"proxy-user:proxy-pass")
    assert len(setup.proxy.heads) == 1
    assert b"Proxy-Authorization: Basic " + basic in setup.proxy.heads[0]
    assert setup.seen_auth == [f"Bearer {TOKEN}"]


async def test_an_explicit_proxy_wins_over_the_environment(setup: Setup) -> None:
    dead = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    dead_port = dead.sockets[0].getsockname()[1]
    dead.close()
    code, out, err = await run_client(
        setup,
        HTTPS_PROXY=f"http://127.0.0.1:{dead_port}",
        TEST_EXPLICIT_PROXY=f"http://127.0.0.1:{setup.proxy.port}",
    )
    assert (code, out.strip()) == (0, "0"), err
    assert len(setup.proxy.heads) == 1


async def test_plain_http_to_loopback_never_goes_through_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over plain http a proxy would read the bearer token: the environment's is ignored."""
    proxy = Proxy()
    proxy_server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = proxy_server.sockets[0].getsockname()[1]
    seen: list[str] = []

    async def contacts(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"nodes": [], "pageInfo": {"endCursor": None}})

    app = web.Application()
    app.router.add_get("/api/public/v1/accounts/{account}/contacts", contacts)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with BillabexClient(TOKEN, base_url=base, rate_limit=None) as client:
            await client.contacts.list(ACCOUNT)
    finally:
        proxy_server.close()
        await runner.cleanup()
    assert proxy.heads == []
    assert seen == [f"Bearer {TOKEN}"]


def test_an_explicit_proxy_is_checked_and_refused_over_plain_http() -> None:
    with pytest.raises(errors.InvalidRequestError) as bad:
        BillabexClient(TOKEN, proxy="socks5://127.0.0.1:1080")
    assert bad.value.field == "proxy"
    with pytest.raises(errors.InvalidRequestError, match="https base_url"):
        BillabexClient(TOKEN, base_url="http://127.0.0.1:8080", proxy="http://127.0.0.1:3128")
    secret = "http://user:hunter2@proxy.example:3128"
    client = BillabexClient(TOKEN, proxy=secret)
    assert "hunter2" not in repr(client)
