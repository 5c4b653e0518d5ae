"""FakeBillabex standalone: ``python -m billabex_async.testing`` in a subprocess."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import signal
import socket
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from billabex_async._types import RateLimit
from billabex_async.testing.__main__ import main, parse_rate_limit
from tests._simulator_process import WAIT, simulator

API = "/api/public/v1"
TOKEN = "bbx_my-fixed.token~1"
ACCOUNT = "0B9F6A5E-8F43-4C1B-9D1A-3F1F7E2A6C10"  # upper case: accepted, shown canonical


@pytest.fixture
async def server() -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str]]]:
    args = ("--port", "0", "--rate-limit", "40/1", "--seed-contacts", "5", "--seed", "1")
    async with simulator(*args) as (proc, banner):
        assert banner.lines[:3] == [
            f"url: {banner.info['url']}",
            f"token: {banner.info['token']}",
            f"account_id: {banner.info['account_id']}",
        ]
        yield proc, banner.info


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_standalone_serves_then_stops_cleanly_on_signal(
    server: tuple[asyncio.subprocess.Process, dict[str, str]], signum: signal.Signals
) -> None:
    proc, info = server
    assert info["url"].startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as session:
        async with session.get(info["url"] + API + "/status") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ok"})
        url = f"{info['url']}{API}/accounts/{info['account_id']}/contacts"
        headers = {"Authorization": f"Bearer {info['token']}"}
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 200
            assert len((await resp.json())["nodes"]) == 5  # --seed-contacts
            assert resp.headers["X-RateLimit-Limit"] == "40"  # --rate-limit
    proc.send_signal(signum)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, err.decode()
    assert b"stopped after 2 requests" in out
    assert b"Traceback" not in err


def test_parse_rate_limit() -> None:
    assert parse_rate_limit("300/60") == RateLimit(300, 60.0)
    assert parse_rate_limit("40/1") == RateLimit(40, 1.0)
    assert parse_rate_limit("120") == RateLimit(120, 60.0)
    assert parse_rate_limit("none") is None


def test_bad_option_exits_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--rate-limit", "fast"])
    assert exc.value.code == 2
    assert "REQUESTS/SECONDS" in capsys.readouterr().err


async def _contacts(url: str, token: str, account_id: str) -> int:
    """How many contacts a list page shows; asserts it answered 200."""
    async with aiohttp.ClientSession() as session:
        contacts_url = f"{url}{API}/accounts/{account_id}/contacts"
        async with session.get(contacts_url, headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200, await resp.text()
            return len((await resp.json())["nodes"])


async def test_token_and_account_are_the_ones_given_on_every_start() -> None:
    for _ in range(2):  # a restart: code configured for the first run still works
        args = ("--port", "0", "--token", TOKEN, "--account", ACCOUNT, "--seed-contacts", "3")
        async with simulator(*args) as (_, banner):
            assert banner.info["token"] == TOKEN
            assert banner.info["account_id"] == ACCOUNT.lower()
            assert await _contacts(banner.info["url"], TOKEN, ACCOUNT.lower()) == 3


async def test_without_options_each_start_has_a_new_token_and_account() -> None:
    async with simulator("--port", "0") as (_, first), simulator("--port", "0") as (_, second):
        assert first.info["token"] != second.info["token"]
        assert first.info["account_id"] != second.info["account_id"]


async def test_the_printed_exports_reach_the_account() -> None:
    async with simulator("--port", "0", "--seed-contacts", "2") as (_, banner):
        assert banner.exports == {
            "BILLABEX_BASE_URL": banner.info["url"],
            "BILLABEX_TOKEN": banner.info["token"],
            "BILLABEX_ACCOUNT_ID": banner.info["account_id"],
        }
        env = banner.exports
        count = await _contacts(
            env["BILLABEX_BASE_URL"], env["BILLABEX_TOKEN"], env["BILLABEX_ACCOUNT_ID"]
        )
        assert count == 2


def _pkce() -> tuple[str, str]:
    verifier = "v" * 50
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_the_printed_oauth_client_logs_in_at_the_printed_endpoints() -> None:
    async with simulator("--port", "0", "--seed-contacts", "1") as (_, banner):
        info = banner.info
        assert info["oauth_authorize_url"] == info["url"] + "/api/oauth/authorize"
        assert info["oauth_token_url"] == info["url"] + "/api/oauth/token"
        verifier, challenge = _pkce()
        redirect = "http://127.0.0.1:9/callback"
        authorize = URL(info["oauth_authorize_url"]).with_query(
            client_id=info["oauth_client_id"],
            redirect_uri=redirect,
            response_type="code",
            code_challenge=challenge,
            code_challenge_method="S256",
            state="s1",
        )
        grant = {
            "grant_type": "authorization_code",
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "client_id": info["oauth_client_id"],
        }
        async with aiohttp.ClientSession() as session:
            async with session.get(authorize, allow_redirects=False) as resp:
                assert resp.status == 302
                grant["code"] = URL(resp.headers["Location"]).query["code"]
            # The secret is checked: the printed one is the one to send.
            wrong = {**grant, "client_secret": "not-the-secret"}
            async with session.post(info["oauth_token_url"], data=wrong) as resp:
                assert resp.status == 401
            right = {**grant, "client_secret": info["oauth_client_secret"]}
            async with session.post(info["oauth_token_url"], data=right) as resp:
                assert resp.status == 200, await resp.text()
                access = (await resp.json())["access_token"]
        assert await _contacts(info["url"], access, info["account_id"]) == 1


async def test_a_taken_port_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "billabex_async.testing",
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 1
    assert out == b""
    assert err.decode().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "choose another --port, or --port 0 for a free one"
    ]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--token", "has space", "argument --token: token must be letters, digits"),
        ("--token", "", "argument --token: token must be letters, digits"),
        ("--token", "caf\u00e9", "argument --token: token must be letters, digits"),
        ("--account", "acct-1", "argument --account: account_id must be a UUID, got 'acct-1'"),
        ("--port", "65536", "argument --port: port must be an integer from 0 to 65535"),
        ("--port", "http", "argument --port: port must be an integer from 0 to 65535"),
    ],
)
def test_bad_identity_or_port_exits_with_usage(
    capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
