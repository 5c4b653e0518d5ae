"""A closed client, a client closed mid-call, and a client used from a second
event loop: typed errors, no limiter slot lost, no session leaked."""

from __future__ import annotations

import asyncio
import gc
import socket
import uuid
import warnings

import pytest
from aiohttp import web

from billabex_async import BillabexClient, RateLimit, errors

from ._fakes import RecordingLimiter
from ._scripted import ACCOUNT, CONTACT, client_for, contact_json, reply
from .conftest import ScriptedServer


def fresh_token() -> str:
    # Limiters are shared per token in a process: a token of its own per test.
    return f"sk-test-{uuid.uuid4().hex}"


CALLS = {
    "list": lambda c: c.contacts.list(ACCOUNT),
    "create": lambda c: c.contacts.create(ACCOUNT, full_name="A", language="en"),
    "update": lambda c: c.contacts.update(ACCOUNT, CONTACT, full_name="A"),
    "delete": lambda c: c.contacts.delete(ACCOUNT, CONTACT),
    "upsert": lambda c: c.contacts.upsert(ACCOUNT, full_name="A", language="en"),
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_closed_client_raises_before_taking_a_slot(
    scripted: ScriptedServer, name: str
) -> None:
    scripted.default = reply(200, contact_json())
    token = fresh_token()
    client = BillabexClient(token, base_url=scripted.url, rate_limit=RateLimit(1, 60.0))
    async with client:
        pass
    with pytest.raises(errors.ClientClosedError, match="closed"):
        await CALLS[name](client)
    assert isinstance(client.limiter, object)
    assert client.limiter.used() == 0  # type: ignore[union-attr]
    assert scripted.seen == []
    # The slot was not lost: a fresh client on the same token sends at once.
    async with BillabexClient(token, base_url=scripted.url, rate_limit=RateLimit(1, 60.0)) as c2:
        await asyncio.wait_for(c2.contacts.upsert(ACCOUNT, full_name="A", language="en"), 5.0)
    assert len(scripted.seen) == 1


async def test_a_closed_client_is_still_a_runtime_error_and_cannot_reopen(
    scripted: ScriptedServer,
) -> None:
    client = client_for(scripted)
    await client.close()
    with pytest.raises(RuntimeError):
        await client.contacts.list(ACCOUNT)
    with pytest.raises(errors.ClientClosedError):
        async with client:
            pass
    await client.close()  # idempotent


async def test_requests_in_flight_at_close_fail_typed_and_release_their_slots(
    scripted: ScriptedServer,
) -> None:
    arrived: list[web.Request] = []
    all_in = asyncio.Event()
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        arrived.append(request)
        if len(arrived) == 3:
            all_in.set()
        await never.wait()
        return web.Response()

    scripted.default = hang
    client = client_for(scripted, rate_limit=RateLimit(50, 60.0), max_retries=4)
    await client.__aenter__()
    limiter = RecordingLimiter()
    client._transport._limiter = limiter
    calls = [asyncio.ensure_future(CALLS[name](client)) for name in ("list", "create", "upsert")]
    await all_in.wait()
    await client.close()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, errors.ClientClosedError) for r in results), results
    assert all("in flight" in str(r) for r in results)
    assert limiter.acquired == limiter.released == 3
    assert len(arrived) == 3  # none retried after the close


async def test_a_close_while_waiting_for_a_slot_releases_it(scripted: ScriptedServer) -> None:
    client = client_for(scripted, rate_limit=RateLimit(50, 60.0))
    await client.__aenter__()
    limiter = RecordingLimiter()
    limiter.gate = asyncio.Event()
    client._transport._limiter = limiter
    call = asyncio.ensure_future(client.contacts.list(ACCOUNT))
    await limiter.waiting.wait()
    await client.close()
    limiter.gate.set()
    with pytest.raises(errors.ClientClosedError):
        await call
    assert limiter.acquired == limiter.released == 1
    assert scripted.seen == []


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_second_asyncio_run_gets_a_typed_error_and_nothing_leaks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sock = _listening_socket()
    port = sock.getsockname()[1]
    # In a dict, so that the test can drop the last reference and collect it.
    box = {"client": BillabexClient(fresh_token(), base_url=f"http://127.0.0.1:{port}")}

    async def first_run() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", reply(200, {"nodes": [], "pageInfo": {}}))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            await box["client"].contacts.list(ACCOUNT)  # never closed by its user
        finally:
            await runner.cleanup()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(first_run())
        client = box["client"]
        with pytest.raises(errors.WrongEventLoopError, match="another event loop"):
            asyncio.run(client.contacts.list(ACCOUNT))
        with pytest.raises(errors.WrongEventLoopError):
            asyncio.run(client.__aenter__())
        asyncio.run(client.close())  # from elsewhere: harmless
        box.clear()
        del client
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning) or "nclosed" in str(w)]
    assert leaks == []
    assert "nclosed" not in caplog.text
    assert "Event loop is closed" not in caplog.text


def test_a_client_closed_in_one_loop_says_closed_in_the_next() -> None:
    async def open_and_close(client: BillabexClient) -> None:
        async with client:
            pass

    client = BillabexClient(fresh_token(), base_url="http://127.0.0.1:1", rate_limit=None)
    asyncio.run(open_and_close(client))
    with pytest.raises(errors.ClientClosedError, match="is closed"):
        asyncio.run(client.contacts.list(ACCOUNT))


class _RotatingToken:
    """A token provider whose current token the test replaces at will."""

    def __init__(self) -> None:
        self.current = "sk-test-stale"

    async def get_token(self) -> str:
        return self.current

    async def refresh(self, rejected: str) -> str:
        raise AssertionError("no 401 expected")


async def test_the_token_is_read_after_the_wait_for_a_slot(scripted: ScriptedServer) -> None:
    # A wait for a slot can outlast the refresh margin: a token read before it
    # would be expired on arrival, and a 401 stops a bulk run.
    scripted.default = reply(200, contact_json())
    tokens = _RotatingToken()
    client = BillabexClient(tokens, base_url=scripted.url, rate_limit=None, max_retries=0)
    async with client:
        limiter = RecordingLimiter()
        limiter.gate = asyncio.Event()
        client._transport._limiter = limiter
        call = asyncio.ensure_future(client.contacts.get(ACCOUNT, CONTACT))
        await limiter.waiting.wait()
        tokens.current = "sk-test-fresh"  # the old one expired during the wait
        limiter.gate.set()
        await call
    assert [seen.headers["Authorization"] for seen in scripted.seen] == ["Bearer sk-test-fresh"]
    assert limiter.acquired == limiter.released == 1


class _FailingToken(_RotatingToken):
    async def get_token(self) -> str:
        raise errors.AuthRefreshError("the refresh failed")


async def test_a_failed_token_refresh_hands_its_slot_back(scripted: ScriptedServer) -> None:
    client = BillabexClient(_FailingToken(), base_url=scripted.url, rate_limit=None)
    async with client:
        limiter = RecordingLimiter()
        client._transport._limiter = limiter
        with pytest.raises(errors.AuthRefreshError):
            await client.contacts.get(ACCOUNT, CONTACT)
    assert limiter.acquired == limiter.released == 1
    assert scripted.seen == []


class _CountedToken(_RotatingToken):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_token(self) -> str:
        self.reads += 1
        return self.current


@pytest.mark.parametrize("opened", [True, False], ids=["opened", "never-opened"])
async def test_a_closed_client_takes_no_slot_and_reads_no_token(
    scripted: ScriptedServer, opened: bool
) -> None:
    tokens = _CountedToken()
    client = BillabexClient(tokens, base_url=scripted.url, rate_limit=None)
    limiter = RecordingLimiter()
    client._transport._limiter = limiter
    if opened:
        await client.__aenter__()
    await client.close()
    for call in (client.contacts.list(ACCOUNT), client.contacts.delete(ACCOUNT, CONTACT)):
        with pytest.raises(errors.ClientClosedError):
            await call
    assert (limiter.acquired, limiter.released, tokens.reads) == (0, 0, 0)
    assert scripted.seen == []
