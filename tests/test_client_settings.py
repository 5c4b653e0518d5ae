"""Client settings: read-only once built, the ``clock=`` seam, the public type of ``contacts``."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

import billabex_async
from billabex_async import BillabexClient, RateLimit, errors
from billabex_async.resources import ContactsResource
from tests._fakes import JumpClock

from ._scripted import ACCOUNT, CONTACT, contact_json, reply
from .conftest import TOKEN, Handler, ScriptedServer

# A clock the client ignored would wait in wall time: this turns that into a failure.
HANG = 10.0


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_retries", 0), ("rate_limit", None), ("base_url", "https://other.example")],
)
def test_settings_the_stack_was_built_from_are_read_only(name: str, value: object) -> None:
    client = BillabexClient(TOKEN, max_retries=2, rate_limit=RateLimit(10, 1.0))
    before = getattr(client, name)
    with pytest.raises(AttributeError):
        setattr(client, name, value)
    assert getattr(client, name) == before
    assert (client.max_retries, client.rate_limit) == (2, RateLimit(10, 1.0))
    assert client.base_url == "https://next.billabex.com"


def test_contacts_is_the_public_contacts_resource() -> None:
    client = BillabexClient(TOKEN)
    assert type(client.contacts) is ContactsResource
    assert billabex_async.ContactsResource is ContactsResource
    for name in ("bulk_upsert", "bulk_upsert_iter", "sync"):
        assert callable(getattr(ContactsResource, name))


async def test_the_retry_backoff_waits_on_the_clock(scripted: ScriptedServer) -> None:
    clock = JumpClock()
    scripted.script(reply(503, {"message": "busy"}, **{"Retry-After": "30"}))
    scripted.default = reply(200, contact_json())
    async with BillabexClient(
        TOKEN, base_url=scripted.url, rate_limit=None, max_retries=1, clock=clock
    ) as client:
        async with asyncio.timeout(HANG):
            await client.contacts.get(ACCOUNT, CONTACT)
    assert clock.sleeps == [30.0]
    assert len(scripted.seen) == 2


async def test_the_retry_budget_is_spent_on_the_clock(scripted: ScriptedServer) -> None:
    # The first retry's 30 s wait happens on the clock; the second would pass
    # the 50 s budget only if those 30 s were counted.
    clock = JumpClock()
    scripted.default = reply(503, {"message": "busy"}, **{"Retry-After": "30"})
    async with BillabexClient(
        TOKEN, base_url=scripted.url, rate_limit=None, max_retries=3, retry_budget=50.0, clock=clock
    ) as client:
        async with asyncio.timeout(HANG):
            with pytest.raises(errors.InternalServerError):
                await client.contacts.get(ACCOUNT, CONTACT)
    assert clock.sleeps == [30.0]
    assert len(scripted.seen) == 2


async def test_the_rate_window_runs_on_the_clock(scripted: ScriptedServer) -> None:
    clock = JumpClock()
    arrivals: list[float] = []
    answer: Handler = reply(200, contact_json())

    async def stamp(request: web.Request) -> web.StreamResponse:
        arrivals.append(clock.now)
        return await answer(request)

    scripted.default = stamp
    async with BillabexClient(
        TOKEN, base_url=scripted.url, rate_limit=RateLimit(1, 60.0), clock=clock
    ) as client:
        async with asyncio.timeout(HANG):
            await client.contacts.get(ACCOUNT, CONTACT)
            await client.contacts.get(ACCOUNT, CONTACT)
    assert arrivals[0] == 0.0
    assert arrivals[1] >= 60.0  # one request per window, waited in virtual seconds
