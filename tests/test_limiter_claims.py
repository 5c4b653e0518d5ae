"""The README's rate-limit claims, end to end through the client and a real local
server: a 429 pauses the senders, X-RateLimit-* headers correct the count, and
every slot is given back after a response or a failure.

The limiter runs on a jumping clock: its sleeps move the clock at once, and the
server stamps each arrival with it, so "sent only after 30 s" is a fact about
the limiter's decisions, not about wall time.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from billabex_async import BillabexClient, RateLimit, errors
from tests._fakes import JumpClock

from ._scripted import ACCOUNT, Sleeps, contact_json, reply, reset
from .conftest import TOKEN, Handler, ScriptedServer

# A hang means a slot was lost; this turns it into a failure (never reached when green).
HANG = 20.0


@pytest.fixture
def clock() -> JumpClock:
    """The clock every client of the test runs its limiter on (``clock=``)."""
    return JumpClock()


def stamped(clock: JumpClock, arrivals: list[float], handler: Handler) -> Handler:
    """``handler``, noting the limiter clock's time of each arrival."""

    async def stamp(request: web.Request) -> web.StreamResponse:
        arrivals.append(clock())
        return await handler(request)

    return stamp


def make(
    scripted: ScriptedServer, clock: JumpClock, rate_limit: RateLimit, **kwargs: object
) -> BillabexClient:
    kwargs.setdefault("max_retries", 2)
    client = BillabexClient(
        TOKEN,
        base_url=scripted.url,
        rate_limit=rate_limit,
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )
    client._transport._sleep = Sleeps()  # backoff of the retry policy: not waited
    return client


async def test_a_429_pauses_every_sender_until_retry_after(
    scripted: ScriptedServer, clock: JumpClock
) -> None:
    arrivals: list[float] = []
    ok = reply(200, contact_json())
    scripted.script(
        stamped(clock, arrivals, reply(429, {"message": "slow"}, **{"Retry-After": "30"}))
    )
    scripted.default = stamped(clock, arrivals, ok)
    async with make(scripted, clock, RateLimit(100, 60.0)) as client:
        async with asyncio.timeout(HANG):
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert arrivals[0] == 0.0
    assert arrivals[1] >= 30.0  # the retry waited for Retry-After
    assert len(arrivals) == 2


async def test_a_429_without_retries_still_pauses_the_next_request(
    scripted: ScriptedServer, clock: JumpClock
) -> None:
    arrivals: list[float] = []
    scripted.script(
        stamped(clock, arrivals, reply(429, {"message": "slow"}, **{"Retry-After": "12"}))
    )
    scripted.default = stamped(clock, arrivals, reply(200, {"nodes": [], "pageInfo": {}}))
    async with make(scripted, clock, RateLimit(100, 60.0), max_retries=0) as client:
        with pytest.raises(errors.RateLimitError):
            await client.contacts.list(ACCOUNT)
        async with asyncio.timeout(HANG):
            await client.contacts.list(ACCOUNT)
    assert arrivals == [0.0, pytest.approx(12.0, abs=0.1)]


async def test_remaining_header_holds_requests_someone_else_sent(
    scripted: ScriptedServer, clock: JumpClock
) -> None:
    # The server says the window is spent (another process used it) and
    # frees up in 30 s: the next request waits for that, not for our own count.
    arrivals: list[float] = []
    spent = reply(
        200,
        contact_json(),
        **{
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + 30),
        },
    )
    scripted.script(stamped(clock, arrivals, spent))
    scripted.default = stamped(clock, arrivals, reply(200, contact_json()))
    async with make(scripted, clock, RateLimit(5, 60.0)) as client:
        async with asyncio.timeout(HANG):
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
            await client.contacts.upsert(ACCOUNT, full_name="B", language="en")
    assert arrivals[0] == 0.0
    assert 25.0 <= arrivals[1] <= 31.0  # until Reset, not a whole window


async def test_a_lower_limit_header_lowers_the_limit(
    scripted: ScriptedServer, clock: JumpClock
) -> None:
    arrivals: list[float] = []
    one = reply(200, contact_json(), **{"X-RateLimit-Limit": "1"})
    scripted.default = stamped(clock, arrivals, one)
    async with make(scripted, clock, RateLimit(100, 60.0)) as client:
        async with asyncio.timeout(HANG):
            for name in "ABC":
                await client.contacts.upsert(ACCOUNT, full_name=name, language="en")
    # One per window, as the server says, instead of 100 at once.
    assert arrivals[0] == 0.0
    assert arrivals[1] >= 60.0
    assert arrivals[2] >= 120.0


async def test_a_slot_is_given_back_after_each_response(
    scripted: ScriptedServer, clock: JumpClock
) -> None:
    arrivals: list[float] = []
    scripted.default = stamped(clock, arrivals, reply(200, contact_json()))
    async with make(scripted, clock, RateLimit(2, 60.0)) as client:
        async with asyncio.timeout(HANG):
            for name in "ABCD":
                await client.contacts.upsert(ACCOUNT, full_name=name, language="en")
        assert client.limiter is not None
        assert "in_flight=0" in repr(client.limiter)
    # Two per window: the third goes once the first response is a window old.
    assert arrivals[:2] == [0.0, 0.0]
    assert arrivals[2] >= 60.0


@pytest.mark.parametrize("status", [500, 404])
async def test_a_slot_is_given_back_after_an_error_status(
    scripted: ScriptedServer, clock: JumpClock, status: int
) -> None:
    scripted.default = reply(status, {"message": "no"})
    async with make(scripted, clock, RateLimit(1, 60.0), max_retries=0) as client:
        async with asyncio.timeout(HANG):
            for _ in range(3):
                with pytest.raises(errors.APIStatusError):
                    await client.contacts.list(ACCOUNT)
        assert "in_flight=0" in repr(client.limiter)
    assert len(scripted.seen) == 3
    assert clock.now >= 120.0  # one per window, each slot freed after its answer


async def test_a_slot_is_given_back_after_a_dropped_connection(
    scripted: ScriptedServer, clock: JumpClock
) -> None:
    # The server dropped the first two (aiohttp resends once itself), then answers.
    scripted.script(reset, reset)
    scripted.default = reply(200, contact_json())
    async with make(scripted, clock, RateLimit(1, 60.0), max_retries=3) as client:
        async with asyncio.timeout(HANG):
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
            await client.contacts.upsert(ACCOUNT, full_name="B", language="en")
        assert "in_flight=0" in repr(client.limiter)
    assert len(scripted.seen) == 4


async def test_a_cancelled_request_gives_its_slot_back(
    scripted: ScriptedServer, clock: JumpClock
) -> None:
    started = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        started.set()
        await asyncio.Event().wait()  # never answers; the client cancels
        raise AssertionError("unreachable")

    scripted.script(hang)
    scripted.default = reply(200, contact_json())
    async with make(scripted, clock, RateLimit(1, 60.0)) as client:
        task = asyncio.ensure_future(client.contacts.upsert(ACCOUNT, full_name="A", language="en"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(HANG):
            await client.contacts.upsert(ACCOUNT, full_name="B", language="en")
        assert "in_flight=0" in repr(client.limiter)
    assert clock.now >= 60.0  # the cancelled send may have arrived: it still counted


async def test_a_slot_that_expires_during_a_slow_answer_is_not_held(
    scripted: ScriptedServer, clock: JumpClock
) -> None:
    # The server counts its window when a request arrives, as Billabex does.
    # B's answer takes 61 s: A's slot expires meanwhile, here and at the
    # server, so B's "remaining 0" (A and B, as of B's arrival) is no foreign
    # request, and C goes at once instead of waiting for Reset.
    arrivals: list[float] = []

    def answer(slow: float) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            now = clock()
            arrivals.append(now)
            counted = sum(1 for t in arrivals if t > now - 60.0)
            headers = {
                "X-RateLimit-Limit": "2",
                "X-RateLimit-Remaining": str(2 - counted),
                "X-RateLimit-Reset": str(int(time.time()) + 60),
            }
            clock.now += slow
            return web.json_response(contact_json(), headers=headers)

        return handler

    scripted.script(answer(0.0), answer(61.0))
    scripted.default = answer(0.0)
    async with make(scripted, clock, RateLimit(2, 60.0)) as client:
        async with asyncio.timeout(HANG):
            for name in "ABC":
                await client.contacts.upsert(ACCOUNT, full_name=name, language="en")
    assert arrivals == [0.0, 0.0, 61.0]
