"""Transport behaviour against a real local server: retries, resets, timeouts,
token refresh and rate-limit pauses, with backoff on virtual time."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from aiohttp import web

from billabex_async import BillabexClient, RateLimit, RequestEvent, errors

from ._scripted import (
    ACCOUNT,
    BASE,
    CONTACT,
    RotatingProvider,
    Sleeps,
    contact_json,
    make_client,
    reply,
    reset,
)
from .conftest import TOKEN, ScriptedServer


async def test_idempotent_requests_are_retried_on_5xx(scripted: ScriptedServer) -> None:
    sleeps = Sleeps()
    scripted.script(reply(503, {"message": "busy"}), reply(502), reply(200, contact_json()))
    async with make_client(scripted.url, sleeps, max_retries=4) as client:
        contact = await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert contact.full_name == "John Smith"
    assert [s.method for s in scripted.seen] == ["PUT", "PUT", "PUT"]
    assert len(sleeps.calls) == 2
    assert all(0 <= d <= 1.0 for d in sleeps.calls)  # full jitter: [0, 0.5], then [0, 1]


async def test_retries_stop_at_max_retries_per_client_and_per_call(
    scripted: ScriptedServer,
) -> None:
    sleeps = Sleeps()
    scripted.default = reply(503, {"message": "busy"})
    async with make_client(scripted.url, sleeps, max_retries=2) as client:
        with pytest.raises(errors.InternalServerError):
            await client.contacts.list(ACCOUNT)
        assert len(scripted.seen) == 3
        with pytest.raises(errors.InternalServerError):
            await client.contacts.list(ACCOUNT, max_retries=0)
        assert len(scripted.seen) == 4


async def test_without_idempotent_creates_a_create_is_not_retried_after_a_server_error(
    scripted: ScriptedServer,
) -> None:
    sleeps = Sleeps()
    scripted.script(reply(502, {"message": "gateway"}))
    async with make_client(scripted.url, sleeps, max_retries=4, idempotent_creates=False) as client:
        with pytest.raises(errors.InternalServerError):
            await client.contacts.create(ACCOUNT, full_name="A", language="en")
    assert len(scripted.seen) == 1


async def test_without_idempotent_creates_a_create_whose_answer_was_lost_is_not_retried(
    scripted: ScriptedServer,
) -> None:
    sleeps = Sleeps()
    scripted.script(reset)
    async with make_client(scripted.url, sleeps, max_retries=4, idempotent_creates=False) as client:
        with pytest.raises(errors.OutcomeUnknownError, match="may have been applied") as caught:
            await client.contacts.create(ACCOUNT, full_name="A", language="en")
    assert len(scripted.seen) == 1
    assert sleeps.calls == []
    # What to send again, exactly: the key and the body of the lost attempt.
    assert caught.value.idempotency_key == scripted.seen[0].headers["Idempotency-Key"]
    assert caught.value.body == '{"fullName":"A","language":"en"}'
    assert "fullName" not in str(caught.value)  # contact data stays out of the message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_a_create_that_never_connected_is_retried() -> None:
    sleeps = Sleeps()
    events: list[RequestEvent] = []
    url = f"http://127.0.0.1:{_closed_port()}"
    async with make_client(url, sleeps, max_retries=2, events=events) as client:
        with pytest.raises(errors.APIConnectionError) as caught:
            await client.contacts.create(ACCOUNT, full_name="A", language="en")
    assert not isinstance(caught.value, errors.OutcomeUnknownError)
    assert [e.attempt for e in events] == [1, 2, 3]
    assert all(e.status is None and e.error for e in events)


async def test_aiohttp_resends_are_counted_by_the_limiter(scripted: ScriptedServer) -> None:
    # aiohttp itself resends an idempotent request once when the connection
    # drops; the server saw both, so the limiter must count both.
    sleeps = Sleeps()
    scripted.script(reset, reply(200, contact_json()))
    async with make_client(
        scripted.url, sleeps, rate_limit=RateLimit(50, 60.0), max_retries=0
    ) as client:
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
        limiter = client.limiter
        assert limiter is not None
        assert limiter.used() == 2  # type: ignore[attr-defined]
    assert len(scripted.seen) == 2
    assert sleeps.calls == []


class TicketSpy:
    """The client's limiter, noting each ticket it hands out and each one observe() gets back."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.issued: list[Any] = []
        self.observed: list[Any] = []

    async def acquire(self) -> Any:
        ticket = await self.inner.acquire()
        self.issued.append(ticket)
        return ticket

    def observe(self, **headers: Any) -> None:
        self.observed.append(headers["sent"])
        self.inner.observe(**headers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_resent_attempt_is_observed_against_the_resends_ticket(
    scripted: ScriptedServer,
) -> None:
    # The answer that comes back is the resend's: the server's count is
    # compared with ours as it stood when the resend went out.
    sleeps = Sleeps()
    counted = reply(
        200, contact_json(), **{"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "48"}
    )
    scripted.script(reset, counted)
    async with make_client(
        scripted.url, sleeps, rate_limit=RateLimit(50, 60.0), max_retries=0
    ) as client:
        spy = TicketSpy(client.limiter)
        client._transport._limiter = spy
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert len(spy.issued) == 2  # the first send's slot, then the resend's
    assert spy.observed == [spy.issued[1]]


async def test_a_delete_that_finds_it_gone_after_a_lost_answer_succeeds(
    scripted: ScriptedServer,
) -> None:
    sleeps = Sleeps()
    gone = reply(404, {"message": "Contact not found", "code": "app-contacts.contact.not-found"})
    scripted.script(reset, gone)
    async with make_client(scripted.url, sleeps, max_retries=2) as client:
        await client.contacts.delete(ACCOUNT, CONTACT)
        scripted.script(gone)
        with pytest.raises(errors.NotFoundError):  # a plain 404 is still an error
            await client.contacts.delete(ACCOUNT, CONTACT)
    assert [s.method for s in scripted.seen] == ["DELETE"] * 3


async def test_a_slow_answer_raises_a_timeout(scripted: ScriptedServer) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response()

    scripted.script(hang)
    sleeps = Sleeps()
    async with make_client(scripted.url, sleeps, timeout=0.2, max_retries=0) as client:
        with pytest.raises(errors.APITimeoutError, match="timed out"):
            await client.contacts.list(ACCOUNT)


async def test_429_pauses_the_limiter_and_retries(scripted: ScriptedServer) -> None:
    sleeps = Sleeps()
    events: list[RequestEvent] = []
    scripted.script(reply(429, {"message": "slow down"}, **{"Retry-After": "0"}))
    scripted.default = reply(200, contact_json())
    async with make_client(
        scripted.url, sleeps, rate_limit=RateLimit(100, 60.0), events=events
    ) as client:
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert [e.status for e in events] == [429, 200]
    assert sleeps.calls == [0.0]  # the limiter's pause does the waiting


async def test_429_without_a_limiter_sleeps_for_retry_after(scripted: ScriptedServer) -> None:
    sleeps = Sleeps()
    scripted.script(reply(429, {"message": "slow down"}, **{"Retry-After": "7"}))
    scripted.default = reply(200, contact_json())
    async with make_client(scripted.url, sleeps, rate_limit=None) as client:
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert sleeps.calls == [7.0]


async def test_a_401_refreshes_the_token_once_and_replays(scripted: ScriptedServer) -> None:
    provider = RotatingProvider()
    scripted.script(reply(401, {"message": "expired"}), reply(200, contact_json()))
    async with BillabexClient(provider, base_url=scripted.url, rate_limit=None) as client:
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
        assert provider.refreshes == 1
        scripted.script(reply(401, {"message": "expired"}), reply(401, {"message": "revoked"}))
        with pytest.raises(errors.AuthenticationError, match="revoked"):
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    auth = [s.headers["Authorization"] for s in scripted.seen]
    assert auth == [
        "Bearer old-token",
        "Bearer new-token-1",
        "Bearer new-token-1",
        "Bearer new-token-2",
    ]
    assert provider.refreshes == 2


async def test_concurrent_401s_share_one_refresh(scripted: ScriptedServer) -> None:
    provider = RotatingProvider()

    async def auth_check(request: web.Request) -> web.StreamResponse:
        if request.headers["Authorization"] == "Bearer old-token":
            return web.json_response({"message": "expired"}, status=401)
        return web.json_response(contact_json())

    scripted.default = auth_check
    async with BillabexClient(provider, base_url=scripted.url, rate_limit=None) as client:
        await asyncio.gather(
            *(client.contacts.upsert(ACCOUNT, full_name="A", language="en") for _ in range(20))
        )
    assert provider.refreshes == 1


async def test_a_fixed_token_401_fails_at_once(scripted: ScriptedServer) -> None:
    sleeps = Sleeps()
    scripted.script(reply(401, {"message": "bad token"}))
    async with make_client(scripted.url, sleeps, max_retries=4) as client:
        with pytest.raises(errors.AuthenticationError):
            await client.contacts.list(ACCOUNT)
    assert len(scripted.seen) == 1


async def test_retries_are_logged_without_secrets_or_contact_data(
    scripted: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="billabex_async")
    sleeps = Sleeps()
    scripted.script(reply(503, {"message": "busy"}), reply(200, contact_json()))
    async with make_client(scripted.url, sleeps) as client:
        await client.contacts.upsert(
            ACCOUNT, full_name="Zelda Quist", language="en", email="zelda@acme.com"
        )
    assert f"PUT {BASE.replace('/api/public/v1', '')}/upsert -> 503, retrying" in caplog.text
    for secret in (TOKEN, "Zelda", "zelda@acme.com"):
        assert secret not in caplog.text


async def test_rate_limit_headers_reach_the_events(scripted: ScriptedServer) -> None:
    sleeps = Sleeps()
    events: list[RequestEvent] = []
    scripted.script(reply(204, None, **{"X-RateLimit-Remaining": "41", "X-RateLimit-Limit": "300"}))
    async with make_client(scripted.url, sleeps, events=events) as client:
        await client.contacts.delete(ACCOUNT, CONTACT)
    [event] = events
    assert (event.method, event.status, event.rate_limit_remaining) == ("DELETE", 204, 41)
    assert event.attempt == 1
    assert event.error is None
