"""FakeBillabex: endpoints, auth, scopes, validation and the request log, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from billabex_async.testing import FakeBillabex

from ._simulator_calls import _NO_BODY, API, call, contacts_path


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=7) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_status_needs_no_token(fake: FakeBillabex, session: aiohttp.ClientSession) -> None:
    status, headers, body = await call(session, fake, "GET", "/status", anonymous=True)
    assert (status, body) == (200, {"status": "ok"})
    assert headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("token", "code"),
    [(None, "app-auth.token.missing"), ("nope", "app-auth.token.invalid")],
)
async def test_missing_or_unknown_token_is_401(
    fake: FakeBillabex, session: aiohttp.ClientSession, token: str | None, code: str
) -> None:
    path = contacts_path(fake)
    status, _, body = await call(session, fake, "GET", path, token=token, anonymous=token is None)
    assert status == 401
    assert body["code"] == code
    assert body["message"]


async def test_revoked_token_is_401(fake: FakeBillabex, session: aiohttp.ClientSession) -> None:
    token = fake.issue_token()
    assert (await call(session, fake, "GET", contacts_path(fake), token=token))[0] == 200
    fake.revoke_token(token)
    assert (await call(session, fake, "GET", contacts_path(fake), token=token))[0] == 401


async def test_read_scope_can_list_but_not_write(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    reader = fake.issue_token(scopes=("accounts:read",))
    assert (await call(session, fake, "GET", contacts_path(fake), token=reader))[0] == 200
    body = {"fullName": "Ada", "language": "en"}
    status, _, error = await call(session, fake, "POST", contacts_path(fake), body, token=reader)
    assert (status, error["code"]) == (403, "app-auth.token.insufficient-scope")
    assert fake.contacts(fake.account_id) == []


async def test_token_without_contact_scopes_cannot_read(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    other = fake.issue_token(scopes=("invoices:read",))
    assert (await call(session, fake, "GET", contacts_path(fake), token=other))[0] == 403


async def test_unknown_account_contact_and_non_uuid_ids_are_404(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    stranger = uuid.uuid4()
    status, _, body = await call(session, fake, "GET", f"/accounts/{stranger}/contacts")
    assert (status, body["code"]) == (404, "app-contacts.account.not-found")
    assert (await call(session, fake, "GET", "/accounts/not-a-uuid/contacts"))[0] == 404
    path = f"{contacts_path(fake)}/{stranger}"
    status, _, body = await call(session, fake, "PATCH", path, {"notes": "x"})
    assert (status, body["code"]) == (404, "app-contacts.contact.not-found")
    assert (await call(session, fake, "DELETE", f"{contacts_path(fake)}/42"))[0] == 404


async def test_uppercase_uuid_finds_the_account(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    path = f"/accounts/{fake.account_id.upper()}/contacts"
    assert (await call(session, fake, "GET", path))[0] == 200


async def test_malformed_json_is_400_and_creates_nothing(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    status, _, body = await call(session, fake, "POST", contacts_path(fake), data=b'{"fullName":')
    assert (status, body["code"]) == (400, "app-core.request.malformed-json")
    assert fake.contacts(fake.account_id) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"language": "en"}, "app-contacts.contact.full-name-required"),
        ({"fullName": "", "language": "en"}, "app-contacts.contact.invalid-full-name"),
        ({"fullName": "   ", "language": "en"}, "app-contacts.contact.invalid-full-name"),
        ({"fullName": 42, "language": "en"}, "app-contacts.contact.invalid-full-name"),
        ({"fullName": "Ada"}, "app-contacts.contact.language-required"),
        ({"fullName": "Ada", "language": "EN"}, "app-contacts.contact.invalid-language"),
        ({"fullName": "Ada", "language": "eng"}, "app-contacts.contact.invalid-language"),
        (
            {"fullName": "Ada", "language": "en", "email": "ada"},
            "app-contacts.contact.invalid-email",
        ),
        (
            {"fullName": "Ada", "language": "en", "email": "a @b.co"},
            "app-contacts.contact.invalid-email",
        ),
        ({"fullName": "Ada", "language": "en", "email": 7}, "app-contacts.contact.invalid-email"),
        ({"fullName": "Ada", "language": "en", "role": 1}, "app-contacts.contact.invalid-role"),
        (
            {"fullName": "Ada", "language": "en", "isPrimary": "y"},
            "app-contacts.contact.invalid-is-primary",
        ),
        (["Ada", "en"], "app-contacts.request.invalid-body"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_invalid_bodies_are_422_with_a_dotted_code(
    fake: FakeBillabex, session: aiohttp.ClientSession, body: Any, code: str, method: str
) -> None:
    path = contacts_path(fake) + ("/upsert" if method == "PUT" else "")
    status, _, error = await call(session, fake, method, path, body)
    assert (status, error["code"]) == (422, code)
    assert isinstance(error["message"], str)
    assert fake.contacts(fake.account_id) == []


async def test_create_returns_201_the_wire_contact_and_stores_it(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    body = {"fullName": "John Smith", "language": "en", "email": "john@acme.com", "extra": 1}
    status, _, created = await call(session, fake, "POST", contacts_path(fake), body)
    assert status == 201
    assert created == {
        "id": created["id"],
        "fullName": "John Smith",
        "email": {"address": "john@acme.com", "status": "Valid"},
        "language": "en",
        "role": None,
        "notes": None,
        "isPrimary": None,
        "readOnlyReason": None,
    }
    [stored] = fake.contacts(fake.account_id)
    assert str(stored.id) == created["id"]
    assert stored.email is not None
    assert stored.email.address == "john@acme.com"


async def test_patch_changes_only_the_fields_sent(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    contact = fake.add_contact(
        fake.account_id, full_name="Ada", language="en", email="ada@x.io", role="CFO"
    )
    path = f"{contacts_path(fake)}/{contact.id}"
    status, _, body = await call(session, fake, "PATCH", path, {"notes": "pays late"})
    assert status == 200
    assert (body["fullName"], body["role"], body["notes"]) == ("Ada", "CFO", "pays late")
    assert body["email"] == {"address": "ada@x.io", "status": "Valid"}
    status, _, body = await call(session, fake, "PATCH", path, {"email": None})
    assert (status, body["email"], body["notes"]) == (200, None, "pays late")
    assert fake.contact(fake.account_id, contact.id).email is None


async def test_patch_new_email_is_valid_and_same_address_keeps_its_status(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    contact = fake.add_contact(fake.account_id, full_name="Ada", email="ada@x.io")
    fake.set_email_status(fake.account_id, contact.id, "Bounced")
    path = f"{contacts_path(fake)}/{contact.id}"
    _, _, body = await call(session, fake, "PATCH", path, {"email": "ADA@x.io"})
    assert body["email"] == {"address": "ADA@x.io", "status": "Bounced"}
    _, _, body = await call(session, fake, "PATCH", path, {"email": "ada@new.io"})
    assert body["email"] == {"address": "ada@new.io", "status": "Valid"}


async def test_email_status_set_by_the_fake_is_served(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    contact = fake.add_contact(fake.account_id, full_name="Ada", email="ada@x.io")
    fake.set_email_status(fake.account_id, contact.id, "Complained")
    _, _, page = await call(session, fake, "GET", contacts_path(fake))
    assert page["nodes"][0]["email"]["status"] == "Complained"


async def test_delete_is_204_then_404(fake: FakeBillabex, session: aiohttp.ClientSession) -> None:
    contact = fake.add_contact(fake.account_id, full_name="Ada")
    path = f"{contacts_path(fake)}/{contact.id}"
    status, headers, body = await call(session, fake, "DELETE", path)
    assert (status, body) == (204, None)
    assert headers["X-Request-Id"]
    assert fake.contacts(fake.account_id) == []
    assert (await call(session, fake, "DELETE", path))[0] == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "/{id}", {"notes": "x"}),
        ("DELETE", "/{id}", _NO_BODY),
        ("PUT", "/upsert", {"fullName": "Ada Lovelace", "language": "en"}),
    ],
)
async def test_read_only_contacts_refuse_writes_with_403(
    fake: FakeBillabex, session: aiohttp.ClientSession, method: str, suffix: str, body: Any
) -> None:
    contact = fake.add_contact(fake.account_id, full_name="Ada Lovelace", notes="keep")
    locked = fake.set_read_only(fake.account_id, contact.id, "Owned by NetSuite")
    path = contacts_path(fake) + suffix.format(id=contact.id)
    status, _, error = await call(session, fake, method, path, body)
    assert (status, error["code"]) == (403, "app-contacts.contact.read-only")
    assert fake.contacts(fake.account_id) == [locked]  # untouched, not deleted
    fake.set_read_only(fake.account_id, contact.id, None)
    assert (await call(session, fake, method, path, body))[0] in {200, 204}


async def test_idempotency_key_replays_the_original_create(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    body = {"fullName": "Ada", "language": "en"}
    key = {"Idempotency-Key": "k-1"}
    first = await call(session, fake, "POST", contacts_path(fake), body, headers=key)
    again = await call(session, fake, "POST", contacts_path(fake), body, headers=key)
    # The first answer, replayed: same status, same body, and marked so.
    assert (first[0], again[0]) == (201, 201)
    assert again[2] == first[2]
    assert "Idempotent-Replayed" not in first[1]
    assert again[1]["Idempotent-Replayed"] == "true"
    assert len(fake.contacts(fake.account_id)) == 1
    other = await call(
        session, fake, "POST", contacts_path(fake), {**body, "language": "fr"}, headers=key
    )
    assert (other[0], other[2]["code"]) == (409, "app-core.idempotency.key-reused")
    fresh = await call(
        session, fake, "POST", contacts_path(fake), body, headers={"Idempotency-Key": "k-2"}
    )
    assert fresh[0] == 201
    assert len(fake.contacts(fake.account_id)) == 2


async def test_post_without_key_is_not_idempotent(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    body = {"fullName": "Ada", "language": "en"}
    await call(session, fake, "POST", contacts_path(fake), body)
    await call(session, fake, "POST", contacts_path(fake), body)
    assert len(fake.contacts(fake.account_id)) == 2


async def test_unknown_routes_and_methods_answer_json(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    status, _, body = await call(session, fake, "GET", "/invoices")
    assert (status, body["code"]) == (404, "app-core.route.not-found")
    status, headers, body = await call(
        session, fake, "POST", f"{contacts_path(fake)}/{uuid.uuid4()}", {}
    )
    assert (status, body["code"]) == (405, "app-core.method.not-allowed")
    assert "PATCH" in headers["Allow"]
    assert "POST" not in headers["Allow"]


async def test_each_response_has_its_own_request_id(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    ids = {
        (await call(session, fake, "GET", contacts_path(fake)))[1]["X-Request-Id"] for _ in range(3)
    }
    assert len(ids) == 3
    assert {r.request_id for r in fake.requests} == ids


async def test_request_log_keeps_bodies_and_statuses_but_never_the_token(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    body = {"fullName": "Ada", "language": "en"}
    await call(session, fake, "PUT", contacts_path(fake) + "/upsert", body)
    await call(session, fake, "GET", contacts_path(fake) + "?first=5")
    put, get = fake.requests
    assert (put.method, put.body, put.status) == ("PUT", body, 201)
    assert (get.method, get.query, get.body, get.status) == ("GET", {"first": "5"}, None, 200)
    assert put.time <= get.time
    assert fake.token not in repr(fake.requests)
    assert fake.token not in repr(fake)


async def test_second_account_is_isolated(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    other = fake.create_account()
    await call(
        session, fake, "POST", f"/accounts/{other}/contacts", {"fullName": "Ada", "language": "en"}
    )
    assert fake.contacts(fake.account_id) == []
    assert [c.full_name for c in fake.contacts(other)] == ["Ada"]


async def test_explicit_start_and_close() -> None:
    fake = FakeBillabex()
    with pytest.raises(RuntimeError):
        _ = fake.url
    await fake.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(fake.url + API + "/status") as resp,
        ):
            assert resp.status == 200
    finally:
        await fake.close()
    await fake.close()  # idempotent
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(fake.url + API + "/status")
