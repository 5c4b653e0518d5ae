"""Idempotency-Key on every write, against a real local server: generated or the
caller's (checked before sending), the same on every attempt of one call, with
the same body bytes; the retry verdict for keyed creates."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from billabex_async import BillabexClient, errors
from billabex_async._http._retry import Failure, decide
from billabex_async._validation import MAX_IDEMPOTENCY_KEY_LENGTH, check_idempotency_key

from ._scripted import (
    ACCOUNT,
    CONTACT,
    RotatingProvider,
    Sleeps,
    contact_json,
    make_client,
    reply,
    reset,
)
from .conftest import ScriptedServer

KEY = "Idempotency-Key"


def recording(raw: list[bytes], then: Any) -> Any:
    """A handler that keeps the exact body bytes it received, then answers as ``then``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        raw.append(await request.read())
        response: web.StreamResponse = await then(request)
        return response

    return handler


async def test_a_callers_key_is_sent_verbatim_on_every_write(scripted: ScriptedServer) -> None:
    scripted.script(
        reply(201, contact_json()),
        reply(200, contact_json()),
        reply(200, contact_json()),
        reply(204),
    )
    async with make_client(scripted.url, Sleeps(), max_retries=0) as client:
        await client.contacts.create(ACCOUNT, full_name="A", language="en", idempotency_key="c-1")
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en", idempotency_key="u~2")
        await client.contacts.update(ACCOUNT, CONTACT, notes="x", idempotency_key="p:3")
        await client.contacts.delete(ACCOUNT, CONTACT, idempotency_key="d/" + "x" * 253)
    assert [(s.method, s.headers[KEY]) for s in scripted.seen] == [
        ("POST", "c-1"),
        ("PUT", "u~2"),
        ("PATCH", "p:3"),
        ("DELETE", "d/" + "x" * 253),
    ]


@pytest.mark.parametrize("key", ["", " ", "two words", "caf\u00e9", "tab\there", "x" * 256, 7])
@pytest.mark.parametrize("verb", ["create", "upsert", "update", "delete"])
async def test_a_bad_key_is_refused_before_anything_is_sent(
    scripted: ScriptedServer, verb: str, key: Any
) -> None:
    async with make_client(scripted.url, Sleeps()) as client:
        contacts = client.contacts
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "create": lambda: contacts.create(
                ACCOUNT, full_name="A", language="en", idempotency_key=key
            ),
            "upsert": lambda: contacts.upsert(
                ACCOUNT, full_name="A", language="en", idempotency_key=key
            ),
            "update": lambda: contacts.update(ACCOUNT, CONTACT, notes="x", idempotency_key=key),
            "delete": lambda: contacts.delete(ACCOUNT, CONTACT, idempotency_key=key),
        }
        with pytest.raises(errors.InvalidRequestError) as caught:
            await calls[verb]()
    assert caught.value.field == "idempotency_key"
    assert scripted.seen == []


PRINTABLE = st.characters(min_codepoint=33, max_codepoint=126)


@given(st.text(alphabet=PRINTABLE, min_size=1, max_size=MAX_IDEMPOTENCY_KEY_LENGTH))
def test_every_printable_ascii_key_up_to_the_limit_is_accepted(key: str) -> None:
    check_idempotency_key(key)


@given(st.text(max_size=MAX_IDEMPOTENCY_KEY_LENGTH + 20))
def test_a_key_is_accepted_exactly_when_printable_ascii_within_the_limit(key: str) -> None:
    sane = 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and all(33 <= ord(c) <= 126 for c in key)
    try:
        check_idempotency_key(key)
    except errors.InvalidRequestError:
        assert not sane
    else:
        assert sane


async def test_every_attempt_of_one_call_carries_the_same_key_and_body_bytes(
    scripted: ScriptedServer,
) -> None:
    raw: list[bytes] = []
    scripted.script(
        recording(raw, reply(503, {"message": "busy"})),
        recording(raw, reset),
        recording(raw, reply(502)),
        recording(raw, reply(201, contact_json())),
    )
    async with make_client(scripted.url, Sleeps(), max_retries=4) as client:
        await client.contacts.create(ACCOUNT, full_name="Zo\u00eb", language="en", role="CFO")
    keys = [s.headers[KEY] for s in scripted.seen]
    assert len(keys) == 4
    assert len(set(keys)) == 1
    assert uuid.UUID(keys[0]).version == 4
    assert len(set(raw)) == 1
    assert raw[0] == b'{"fullName":"Zo\\u00eb","language":"en","role":"CFO"}'


async def test_a_new_call_gets_a_new_key(scripted: ScriptedServer) -> None:
    scripted.script(reply(200, contact_json()), reply(200, contact_json()))
    async with make_client(scripted.url, Sleeps()) as client:
        for _ in range(2):
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert scripted.seen[0].headers[KEY] != scripted.seen[1].headers[KEY]


async def test_aiohttps_own_resend_carries_the_same_key(scripted: ScriptedServer) -> None:
    # aiohttp resends an idempotent request once, by itself, when a kept-alive
    # connection drops: the resend must be the same logical write.
    scripted.script(reset, reply(200, contact_json()))
    async with make_client(scripted.url, Sleeps(), max_retries=0) as client:
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert len(scripted.seen) == 2
    assert scripted.seen[0].headers[KEY] == scripted.seen[1].headers[KEY]


async def test_the_replay_after_a_token_refresh_carries_the_same_key(
    scripted: ScriptedServer,
) -> None:
    provider = RotatingProvider()
    scripted.script(reply(401, {"message": "expired"}), reply(201, contact_json()))
    async with BillabexClient(provider, base_url=scripted.url, rate_limit=None) as client:
        await client.contacts.create(ACCOUNT, full_name="A", language="en", idempotency_key="k")
    assert [s.headers["Authorization"] for s in scripted.seen] == [
        "Bearer old-token",
        "Bearer new-token-1",
    ]
    assert [s.headers[KEY] for s in scripted.seen] == ["k", "k"]


async def test_a_read_carries_no_key(scripted: ScriptedServer) -> None:
    scripted.script(reply(200, contact_json()))
    async with make_client(scripted.url, Sleeps()) as client:
        await client.contacts.get(ACCOUNT, CONTACT)
    assert KEY not in scripted.seen[0].headers


async def test_a_keyed_create_whose_answer_was_lost_is_retried(scripted: ScriptedServer) -> None:
    sleeps = Sleeps()
    scripted.script(reset, reply(504), reply(201, contact_json()))
    async with make_client(scripted.url, sleeps, max_retries=4) as client:
        created = await client.contacts.create(ACCOUNT, full_name="A", language="en")
    assert created.id == uuid.UUID(CONTACT)
    assert [s.method for s in scripted.seen] == ["POST"] * 3
    assert len(sleeps.calls) == 2


async def test_a_keyed_create_out_of_retries_raises_outcome_unknown_with_key_and_body(
    scripted: ScriptedServer,
) -> None:
    scripted.script(reset, reply(503, {"message": "busy"}), reply(503, {"message": "busy"}))
    async with make_client(scripted.url, Sleeps(), max_retries=2) as client:
        with pytest.raises(errors.OutcomeUnknownError) as caught:
            await client.contacts.create(ACCOUNT, full_name="A", language="en")
    # The first attempt may have been applied: a plain 503 would hide that.
    assert len(scripted.seen) == 3
    assert caught.value.idempotency_key == scripted.seen[0].headers[KEY]
    assert caught.value.body == '{"fullName":"A","language":"en"}'
    assert isinstance(caught.value.__cause__, errors.InternalServerError)


async def test_a_keyed_create_refused_after_an_unknown_outcome_raises_the_refusal(
    scripted: ScriptedServer,
) -> None:
    # A 4xx from a server that honours keys is its final word on the key.
    scripted.script(reset, reply(422, {"message": "bad", "code": "x.invalid"}))
    async with make_client(scripted.url, Sleeps(), max_retries=2) as client:
        with pytest.raises(errors.UnprocessableEntityError):
            await client.contacts.create(ACCOUNT, full_name="A", language="en")


METHODS = st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"])
FAILURES = st.sampled_from(list(Failure))
STATUSES = st.sampled_from([None, 400, 404, 409, 422, 429, 500, 502, 503, 504])


@given(
    failure=FAILURES,
    status=STATUSES,
    retries_done=st.integers(0, 6),
    max_retries=st.integers(0, 6),
    elapsed=st.floats(0.0, 200.0),
)
def test_a_replay_safe_create_is_decided_like_an_upsert(
    failure: Failure, status: int | None, retries_done: int, max_retries: int, elapsed: float
) -> None:
    args: dict[str, Any] = {
        "failure": failure,
        "status": status,
        "retry_after": None,
        "retries_done": retries_done,
        "max_retries": max_retries,
        "elapsed": elapsed,
        "rand": lambda: 0.5,
    }
    assert decide(method="POST", replay_safe=True, **args) == decide(method="PUT", **args)
    unsafe = decide(method="POST", **args)
    if unsafe.retry:  # without a key, a create is retried only when surely not applied
        assert failure is Failure.NOT_SENT or status == 429
