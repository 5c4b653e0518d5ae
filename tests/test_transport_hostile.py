"""A hostile or broken server: absurd rate-limit and Retry-After headers, echoed
secrets, request headers in exception chains, and the 429 pause in the budget."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from billabex_async import BillabexClient, RateLimit, errors
from billabex_async._http._headers import MAX_COUNT, MAX_RESET, count_header, reset_header
from billabex_async._retry_after import RETRY_AFTER_CEILING, parse_retry_after

from ._fakes import JumpClock, RecordingLimiter
from ._scripted import ACCOUNT, client_for, contact_json, reply
from .conftest import TOKEN, ScriptedServer

ABSURD_COUNTS = ["inf", "1e999", "Infinity", "-Infinity", "nan", "-5", "9" * 40, "²", "١٢", "3.5"]
ABSURD_RESETS = ["²", "garbage", "inf", "1e999", "nan", "-1", "9" * 40, "1e5", "١٢٣"]


def use(client: BillabexClient, limiter: RecordingLimiter) -> RecordingLimiter:
    client._transport._limiter = limiter
    client._transport._clock = limiter.clock
    client._transport._sleep = limiter.clock.sleep
    return limiter


@pytest.mark.parametrize("limited", [False, True], ids=["no-limiter", "limiter"])
@pytest.mark.parametrize("value", ABSURD_COUNTS)
@pytest.mark.parametrize("header", ["X-RateLimit-Limit", "X-RateLimit-Remaining"])
async def test_an_absurd_count_header_is_ignored(
    scripted: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
    header: str,
    value: str,
    limited: bool,
) -> None:
    caplog.set_level(logging.DEBUG, logger="billabex_async")
    scripted.default = reply(200, contact_json(), **{header: value})
    rate_limit = RateLimit(50, 60.0) if limited else None
    async with client_for(scripted, rate_limit=rate_limit) as client:
        limiter = use(client, RecordingLimiter()) if limited else None
        contact = await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert contact.full_name == "John Smith"
    if limited or header == "X-RateLimit-Remaining":  # without a limiter, only it is read
        assert f"ignoring {header}" in caplog.text
    if limiter is not None:
        assert limiter.observed == [(None, None, None)]
        assert limiter.in_flight == 0


@pytest.mark.parametrize("limited", [False, True], ids=["no-limiter", "limiter"])
@pytest.mark.parametrize("value", ABSURD_RESETS)
async def test_an_absurd_reset_header_is_ignored(
    scripted: ScriptedServer, value: str, limited: bool
) -> None:
    headers = {"X-RateLimit-Reset": value, "X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "7"}
    scripted.default = reply(200, contact_json(), **headers)
    async with client_for(scripted, rate_limit=RateLimit(50, 60.0) if limited else None) as c:
        limiter = use(c, RecordingLimiter()) if limited else None
        await c.contacts.upsert(ACCOUNT, full_name="A", language="en")
    if limiter is not None:
        assert limiter.observed == [(50, 7, None)]


async def test_sane_rate_limit_headers_still_reach_the_limiter(scripted: ScriptedServer) -> None:
    headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "41"}
    scripted.default = reply(200, contact_json(), **headers, **{"X-RateLimit-Reset": "1900000000"})
    async with client_for(scripted, rate_limit=RateLimit(50, 60.0)) as client:
        limiter = use(client, RecordingLimiter())
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert limiter.observed == [(300, 41, 1900000000.0)]


@given(st.text(max_size=60))
def test_header_parsers_never_raise_and_stay_in_range(value: str) -> None:
    count = count_header({"X": value}, "X")
    assert count is None or 0 <= count <= MAX_COUNT
    reset = reset_header({"X-RateLimit-Reset": value})
    assert reset is None or (math.isfinite(reset) and 0 <= reset <= MAX_RESET)
    wait = parse_retry_after(value, now=1.7e9)
    assert wait is None or (math.isfinite(wait) and 0 <= wait <= RETRY_AFTER_CEILING)


@given(st.integers(min_value=0, max_value=MAX_COUNT))
def test_every_real_count_is_read(value: int) -> None:
    assert count_header({"X": f" {value} "}, "X") == value


ABSURD_RETRY_AFTER = ["inf", "nan", "-1", "1e999", "9" * 40, "Infinity", "²", "-inf"]


@pytest.mark.parametrize("value", ABSURD_RETRY_AFTER)
async def test_an_absurd_retry_after_is_capped_or_ignored(
    scripted: ScriptedServer, value: str
) -> None:
    scripted.script(reply(429, {"message": "slow down"}, **{"Retry-After": value}))
    scripted.default = reply(200, contact_json())
    clock = JumpClock()
    async with client_for(scripted, max_retries=2) as client:
        client._transport._sleep = clock.sleep
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
        scripted.script(reply(429, {"message": "slow down"}, **{"Retry-After": value}))
        with pytest.raises(errors.RateLimitError) as caught:
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en", max_retries=0)
    [delay] = clock.sleeps
    assert math.isfinite(delay)
    assert 0 <= delay <= 60.0
    retry_after = caught.value.retry_after
    assert retry_after is None or (math.isfinite(retry_after) and retry_after >= 0)


@pytest.mark.parametrize("value", ABSURD_RETRY_AFTER)
async def test_an_absurd_retry_after_pauses_the_limiter_for_a_finite_time(
    scripted: ScriptedServer, value: str
) -> None:
    scripted.script(reply(429, {"message": "slow down"}, **{"Retry-After": value}))
    scripted.default = reply(200, contact_json())
    async with client_for(scripted, rate_limit=RateLimit(50, 60.0), max_retries=2) as client:
        limiter = use(client, RecordingLimiter())
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    [pause] = limiter.pauses
    assert math.isfinite(pause)
    assert 0 <= pause <= 60.0
    assert limiter.in_flight == 0


# The 429 pause counts against the retry budget.


async def test_a_pause_longer_than_the_budget_is_not_waited_for(scripted: ScriptedServer) -> None:
    scripted.script(reply(429, {"message": "slow down"}, **{"Retry-After": "8"}))
    scripted.default = reply(200, contact_json())
    async with client_for(
        scripted, rate_limit=RateLimit(50, 60.0), max_retries=4, retry_budget=5.0
    ) as client:
        limiter = use(client, RecordingLimiter())
        with pytest.raises(errors.RateLimitError):
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert limiter.pauses == [8.0]  # the others are still held, as the server asked
    assert len(scripted.seen) == 1
    assert limiter.clock.now <= 5.0


async def test_a_pause_within_the_budget_is_waited_once(scripted: ScriptedServer) -> None:
    scripted.script(
        reply(429, {"message": "slow down"}, **{"Retry-After": "2"}),
        reply(429, {"message": "slow down"}, **{"Retry-After": "2"}),
        reply(429, {"message": "slow down"}, **{"Retry-After": "2"}),
    )
    scripted.default = reply(200, contact_json())
    async with client_for(
        scripted, rate_limit=RateLimit(50, 60.0), max_retries=8, retry_budget=5.0
    ) as client:
        limiter = use(client, RecordingLimiter())
        with pytest.raises(errors.RateLimitError):
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    # 0 s: 429, pause to 2 s; 2 s: 429, pause to 4 s; 4 s: 429, and 4 + 2 > 5.
    assert len(scripted.seen) == 3
    assert limiter.clock.now == 4.0
    assert limiter.waits == [2.0, 2.0]  # the limiter's pause did the waiting
    assert [d for d in limiter.clock.sleeps if d] == [2.0, 2.0]  # and nothing else
    assert limiter.in_flight == 0


# Secrets: nothing raised carries the token, in its text or its chain.


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(e for e in (node.__cause__, node.__context__) if e is not None)


def assert_no_token(exc: BaseException) -> None:
    for node in chain(exc):
        assert TOKEN not in repr(node)
        assert TOKEN not in str(node)
        for arg in node.args:
            assert TOKEN not in repr(arg)
        assert "request_info" not in vars(node) if hasattr(node, "__dict__") else True


async def test_no_exception_chain_carries_the_request_headers() -> None:
    # A malformed status line: aiohttp raises a ClientResponseError whose
    # request_info (and so its repr) holds the Authorization header.
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 abc\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = BillabexClient(TOKEN, base_url=f"http://127.0.0.1:{port}", rate_limit=None)
        async with client:
            with pytest.raises(errors.APIConnectionError) as caught:
                await client.contacts.list(ACCOUNT, max_retries=0)
    finally:
        server.close()
        await server.wait_closed()
    assert_no_token(caught.value)
    assert "ClientResponseError" in str(caught.value)  # still says what went wrong


def echo(status: int, *, as_text: bool = False) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        sent = request.headers["Authorization"]
        headers = {"WWW-Authenticate": f'Bearer error="invalid_token", got="{sent}"'}
        if as_text:
            return web.Response(status=status, text=f"invalid token {sent}", headers=headers)
        body = {"message": f"invalid token {sent}", "code": "auth.bad", "echo": [sent]}
        return web.json_response(body, status=status, headers=headers)

    return handler


@pytest.mark.parametrize("as_text", [False, True], ids=["json", "text"])
@pytest.mark.parametrize("status", [400, 401, 403, 500])
async def test_a_body_that_echoes_the_token_is_redacted(
    scripted: ScriptedServer, status: int, as_text: bool
) -> None:
    scripted.default = echo(status, as_text=as_text)
    async with client_for(scripted) as client:
        with pytest.raises(errors.APIStatusError) as caught:
            await client.contacts.list(ACCOUNT)
    error = caught.value
    assert error.status == status
    for text in (str(error), repr(error), repr(error.body), str(error.message), repr(error.args)):
        assert TOKEN not in text
    assert TOKEN not in repr(dict(error.headers))
    assert "[REDACTED]" in str(error)  # the message is kept, minus the secret
    assert_no_token(error)


@pytest.mark.parametrize("shape", ["html", "json"])
async def test_a_2xx_that_echoes_the_token_is_redacted_in_the_error(
    scripted: ScriptedServer, shape: str
) -> None:
    async def echo_ok(request: web.Request) -> web.StreamResponse:
        sent = request.headers["Authorization"]
        if shape == "html":
            return web.Response(text=f"<html>proxy saw {sent}</html>", content_type="text/html")
        return web.json_response(contact_json(id=sent))  # not a UUID: does not fit

    scripted.default = echo_ok
    async with client_for(scripted) as client:
        with pytest.raises(errors.APIResponseValidationError) as caught:
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert "[REDACTED]" in repr(caught.value.body)
    assert TOKEN not in repr(caught.value.body)
    assert_no_token(caught.value)
