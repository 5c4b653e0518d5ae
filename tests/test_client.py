"""BillabexClient end to end against a real local HTTP server: every endpoint,
pagination, PATCH semantics, error mapping, redaction, input checks."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from billabex_async import (
    UNSET,
    BillabexClient,
    Contact,
    ContactUpdate,
    ContactUpsert,
    EmailStatus,
    RateLimit,
    errors,
)

from ._scripted import ACCOUNT, BASE, CONTACT, client_for, contact_json, reply
from .conftest import TOKEN, ScriptedServer


async def test_every_endpoint_sends_the_documented_request(scripted: ScriptedServer) -> None:
    scripted.script(
        reply(200, {"nodes": [contact_json()], "pageInfo": {"endCursor": "c1"}}),
        reply(201, contact_json()),
        reply(200, contact_json(fullName="John A. Smith")),
        reply(204),
        reply(201, contact_json()),
    )
    async with client_for(scripted) as client:
        page = await client.contacts.list(ACCOUNT, first=50, after="c0")
        created = await client.contacts.create(
            ACCOUNT, full_name="John Smith", language="en", email="john@acme.com"
        )
        updated = await client.contacts.update(ACCOUNT, CONTACT, full_name="John A. Smith")
        await client.contacts.delete(ACCOUNT, uuid.UUID(CONTACT))
        upserted = await client.contacts.upsert(
            uuid.UUID(ACCOUNT), full_name="John Smith", language="en", email="john@acme.com"
        )
    got = [(s.method, s.path, s.query, s.body) for s in scripted.seen]
    assert got == [
        ("GET", BASE, {"first": "50", "after": "c0"}, None),
        ("POST", BASE, {}, {"fullName": "John Smith", "language": "en", "email": "john@acme.com"}),
        ("PATCH", f"{BASE}/{CONTACT}", {}, {"fullName": "John A. Smith"}),
        ("DELETE", f"{BASE}/{CONTACT}", {}, None),
        (
            "PUT",
            f"{BASE}/upsert",
            {},
            {"fullName": "John Smith", "language": "en", "email": "john@acme.com"},
        ),
    ]
    for seen in scripted.seen:
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
        assert seen.headers["User-Agent"].startswith("billabex-async/")
    assert page.nodes[0].id == uuid.UUID(CONTACT)
    assert page.page_info is not None
    assert page.page_info.end_cursor == "c1"
    assert created.email is not None
    assert created.email.status is EmailStatus.valid
    assert updated.full_name == "John A. Smith"
    assert isinstance(upserted, Contact)
    # Every write carries its own key (a UUID4 when the caller gives none);
    # a read carries none.
    assert "Idempotency-Key" not in scripted.seen[0].headers
    keys = [s.headers["Idempotency-Key"] for s in scripted.seen[1:]]
    assert [uuid.UUID(k).version for k in keys] == [4, 4, 4, 4]
    assert len(set(keys)) == 4


async def test_models_are_accepted_in_place_of_keywords(scripted: ScriptedServer) -> None:
    scripted.script(reply(200, contact_json()), reply(200, contact_json()))
    async with client_for(scripted) as client:
        await client.contacts.upsert(
            ACCOUNT, ContactUpsert(full_name="A B", language="fr", role="CFO", is_primary=True)
        )
        await client.contacts.update(ACCOUNT, CONTACT, ContactUpdate(notes=None))
        with pytest.raises(errors.InvalidRequestError, match="not both"):
            await client.contacts.upsert(
                ACCOUNT, ContactUpsert(full_name="A", language="fr"), full_name="B"
            )
    assert scripted.seen[0].body == {
        "fullName": "A B",
        "language": "fr",
        "role": "CFO",
        "isPrimary": True,
    }
    assert scripted.seen[1].body == {"notes": None}
    assert len(scripted.seen) == 2


async def test_patch_sends_only_given_fields_and_null_clears(scripted: ScriptedServer) -> None:
    scripted.script(*(reply(200, contact_json()) for _ in range(3)))
    async with client_for(scripted) as client:
        await client.contacts.update(ACCOUNT, CONTACT, language="fr")
        await client.contacts.update(ACCOUNT, CONTACT, email=None)
        await client.contacts.update(ACCOUNT, CONTACT, email="new@acme.com", role=UNSET)
    assert [s.body for s in scripted.seen] == [
        {"language": "fr"},
        {"email": None},
        {"email": "new@acme.com"},
    ]


async def test_create_and_upsert_never_send_a_null_email(scripted: ScriptedServer) -> None:
    scripted.script(reply(201, contact_json()), reply(200, contact_json()))
    async with client_for(scripted) as client:
        await client.contacts.create(ACCOUNT, full_name="A", language="en", email=None)
        await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert [s.body for s in scripted.seen] == [
        {"fullName": "A", "language": "en"},
        {"fullName": "A", "language": "en"},
    ]


async def test_iterate_follows_cursors_until_an_empty_page(scripted: ScriptedServer) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]

    def page(chunk: list[str], cursor: str | None) -> Any:
        return reply(
            200, {"nodes": [contact_json(id=i) for i in chunk], "pageInfo": {"endCursor": cursor}}
        )

    scripted.script(page(ids[:2], "a"), page(ids[2:4], "b"), page(ids[4:], "c"), page([], None))
    async with client_for(scripted) as client:
        seen = [str(c.id) async for c in client.contacts.iterate(ACCOUNT, page_size=2)]
    assert seen == ids
    assert [s.query for s in scripted.seen] == [
        {"first": "2"},
        {"first": "2", "after": "a"},
        {"first": "2", "after": "b"},
        {"first": "2", "after": "c"},
    ]


async def test_iterate_over_an_empty_account_makes_one_request(scripted: ScriptedServer) -> None:
    scripted.script(reply(200, {"nodes": [], "pageInfo": {"endCursor": None}}))
    async with client_for(scripted) as client:
        assert [c async for c in client.contacts.iterate(ACCOUNT)] == []
    assert len(scripted.seen) == 1


async def test_iterate_stops_when_the_cursor_is_missing(scripted: ScriptedServer) -> None:
    scripted.script(reply(200, {"nodes": [contact_json()]}))
    async with client_for(scripted) as client:
        assert len([c async for c in client.contacts.iterate(ACCOUNT)]) == 1
    assert len(scripted.seen) == 1


async def test_unknown_fields_and_enum_values_are_tolerated(scripted: ScriptedServer) -> None:
    body = contact_json(
        email={"address": "x@y.io", "status": "Quarantined", "since": "2026-01-01"},
        favouriteColour="teal",
        role="CFO",
        isPrimary=True,
    )
    scripted.script(reply(200, {"nodes": [body], "pageInfo": {"endCursor": None}, "extra": 1}))
    async with client_for(scripted) as client:
        page = await client.contacts.list(ACCOUNT)
    [contact] = page.nodes
    assert contact.email is not None
    assert contact.email.status == "Quarantined"
    assert contact.role == "CFO"
    assert contact.is_primary is True


async def test_a_body_that_does_not_fit_the_model_raises_a_typed_error(
    scripted: ScriptedServer,
) -> None:
    scripted.script(reply(200, {"id": "not-a-uuid", "fullName": "A", "language": "en"}))
    async with client_for(scripted) as client:
        with pytest.raises(errors.APIResponseValidationError, match="Contact"):
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (422, errors.UnprocessableEntityError),
        (429, errors.RateLimitError),
        (500, errors.InternalServerError),
        (503, errors.InternalServerError),
        (418, errors.APIStatusError),
    ],
)
async def test_each_status_maps_to_its_error_class(
    scripted: ScriptedServer, status: int, cls: type[errors.APIStatusError]
) -> None:
    body = {"message": "Nope.", "code": "app-contacts.contact.nope"}
    scripted.script(reply(status, body, **{"X-Request-Id": "req-42", "Retry-After": "3"}))
    async with client_for(scripted) as client:
        with pytest.raises(cls) as caught:
            await client.contacts.update(ACCOUNT, CONTACT, full_name="X")
    error = caught.value
    assert type(error) is cls
    assert error.status == status
    assert error.code == "app-contacts.contact.nope"
    assert error.message == "Nope."
    assert error.request_id == "req-42"
    assert error.body == body
    assert error.headers["retry-after"] == "3"
    text = str(error)
    assert f"PATCH {BASE}/{CONTACT}".replace("/api/public/v1", "") in text
    assert str(status) in text
    assert "Nope." in text
    if isinstance(error, errors.RateLimitError):
        assert error.retry_after == 3.0


async def test_a_plain_text_error_body_is_kept(scripted: ScriptedServer) -> None:
    async def text(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, text="Bad gateway from the edge")

    scripted.script(text)
    async with client_for(scripted) as client:
        with pytest.raises(errors.InternalServerError) as caught:
            await client.contacts.list(ACCOUNT)
    assert caught.value.body == "Bad gateway from the edge"
    assert caught.value.code is None


async def test_the_token_never_leaks(
    scripted: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scripted.script(reply(401, {"message": "Invalid token"}), reply(503, {"message": "down"}))
    client = client_for(scripted)
    async with client:
        with pytest.raises(errors.AuthenticationError) as auth_error:
            await client.contacts.list(ACCOUNT)
        with pytest.raises(errors.InternalServerError) as server_error:
            await client.contacts.list(ACCOUNT)
    for text in (
        repr(client),
        str(client),
        repr(client.contacts),
        str(auth_error.value),
        repr(auth_error.value),
        str(server_error.value),
        repr(client.limiter),
        caplog.text,
    ):
        assert TOKEN not in text
    assert "Bearer" not in caplog.text


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.contacts.create(ACCOUNT, full_name="", language="en"), "full_name"),
        (lambda c: c.contacts.create(ACCOUNT, full_name="   ", language="en"), "full_name"),
        (lambda c: c.contacts.create(ACCOUNT, full_name="A", language="EN"), "language"),
        (lambda c: c.contacts.upsert(ACCOUNT, full_name="A", language="eng"), "language"),
        (lambda c: c.contacts.upsert(ACCOUNT, full_name="A", language="en", email="nope"), "email"),
        (lambda c: c.contacts.upsert(ACCOUNT, language="en"), "full_name"),
        (lambda c: c.contacts.update(ACCOUNT, CONTACT, email="a@b"), "email"),
        (lambda c: c.contacts.update(ACCOUNT, "42", full_name="A"), "contact_id"),
        (lambda c: c.contacts.delete("acme", CONTACT), "account_id"),
        (lambda c: c.contacts.list(ACCOUNT, first=0), "first"),
        (lambda c: c.contacts.update(ACCOUNT, CONTACT), None),
    ],
)
async def test_bad_input_is_rejected_before_sending(
    scripted: ScriptedServer, call: Any, field: str | None
) -> None:
    async with client_for(scripted) as client:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await call(client)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert scripted.seen == []


async def test_iterate_rejects_a_bad_page_size_before_sending(scripted: ScriptedServer) -> None:
    async with client_for(scripted) as client:
        with pytest.raises(errors.InvalidRequestError):
            async for _ in client.contacts.iterate(ACCOUNT, page_size=0):
                pass
    assert scripted.seen == []


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(errors.InvalidRequestError, match="https"):
        BillabexClient("t", base_url="http://billabex.example.com")
    for url in ("http://localhost:8080", "http://127.0.0.1:1", "http://[::1]:80"):
        assert BillabexClient("t", base_url=url).base_url == url


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLABEX_TOKEN", "env-token")
    monkeypatch.setenv("BILLABEX_BASE_URL", "http://127.0.0.1:9999/")
    client = BillabexClient()
    assert client.base_url == "http://127.0.0.1:9999"
    monkeypatch.delenv("BILLABEX_BASE_URL")
    assert BillabexClient().base_url == "https://next.billabex.com"
    monkeypatch.delenv("BILLABEX_TOKEN")
    with pytest.raises(errors.InvalidRequestError, match="BILLABEX_TOKEN"):
        BillabexClient()


async def test_base_url_with_the_api_prefix_is_not_doubled(scripted: ScriptedServer) -> None:
    scripted.script(reply(204))
    async with BillabexClient(
        TOKEN, base_url=scripted.url + "/api/public/v1/", rate_limit=None
    ) as client:
        await client.contacts.delete(ACCOUNT, CONTACT)
    assert scripted.seen[0].path == f"{BASE}/{CONTACT}"


async def test_a_caller_owned_session_is_used_and_left_open(scripted: ScriptedServer) -> None:
    scripted.script(reply(204))
    async with aiohttp.ClientSession() as session:
        async with client_for(scripted, session=session) as client:
            await client.contacts.delete(ACCOUNT, CONTACT)
        assert not session.closed
    assert len(scripted.seen) == 1


async def test_the_client_closes_its_own_session(scripted: ScriptedServer) -> None:
    client = client_for(scripted)
    async with client:
        session = client._transport.open()
    assert session.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.contacts.list(ACCOUNT)


async def test_the_pool_follows_the_rate_limit_unless_told() -> None:
    sizes = []
    for kwargs in (
        {},
        {"rate_limit": RateLimit(40, 1.0)},
        {"rate_limit": None},
        {"max_connections": 7},
    ):
        async with BillabexClient("t", base_url="http://127.0.0.1:1", **kwargs) as client:
            connector = client._transport.open().connector
            assert connector is not None
            sizes.append(connector.limit)
    assert sizes == [300, 40, 100, 7]
    with pytest.raises(errors.InvalidRequestError):
        BillabexClient("t", max_connections=0)
