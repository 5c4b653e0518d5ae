"""Reading one contact: ``client.contacts.get``, the simulator's GET and PUT forms, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from billabex_async import BillabexClient, errors
from billabex_async.testing import FakeBillabex
from tests._cli_run import billabex
from tests.conftest import TOKEN, ScriptedServer

API = "/api/public/v1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=11) as fake:
        yield fake


def client_for(fake: FakeBillabex, token: str | None = None) -> BillabexClient:
    return BillabexClient(token or fake.token, base_url=fake.url, rate_limit=None, max_retries=0)


async def test_get_returns_the_contact_the_list_shows(fake: FakeBillabex) -> None:
    stored = fake.add_contact(fake.account_id, full_name="Ada Lovelace", email="ada@example.org")
    fake.add_contact(fake.account_id, full_name="Grace Hopper")
    async with client_for(fake) as client:
        got = await client.contacts.get(fake.account_id, stored.id)
        by_str = await client.contacts.get(uuid.UUID(fake.account_id), str(stored.id))
        listed = [c async for c in client.contacts.iterate(fake.account_id)]
    assert got == by_str == stored
    assert got in listed
    seen = [(r.method, r.path) for r in fake.requests[:2]]
    path = f"{API}/accounts/{fake.account_id}/contacts/{stored.id}"
    assert seen == [("GET", path), ("GET", path)]


async def test_get_of_an_absent_contact_or_account_is_not_found(fake: FakeBillabex) -> None:
    async with client_for(fake) as client:
        with pytest.raises(errors.NotFoundError) as absent:
            await client.contacts.get(fake.account_id, uuid.uuid4())
        with pytest.raises(errors.NotFoundError) as no_account:
            await client.contacts.get(uuid.uuid4(), uuid.uuid4())
    assert absent.value.code == "app-contacts.contact.not-found"
    assert no_account.value.code == "app-contacts.account.not-found"


async def test_get_needs_only_the_read_scope(fake: FakeBillabex) -> None:
    stored = fake.add_contact(fake.account_id, full_name="Ada Lovelace")
    reader = fake.issue_token(["accounts:read"])
    async with client_for(fake, reader) as client:
        assert (await client.contacts.get(fake.account_id, stored.id)).id == stored.id
        with pytest.raises(errors.PermissionDeniedError):
            await client.contacts.update(fake.account_id, stored.id, full_name="Ada King")


async def test_get_rejects_a_bad_id_before_sending(fake: FakeBillabex) -> None:
    async with client_for(fake) as client:
        with pytest.raises(errors.InvalidRequestError) as bad:
            await client.contacts.get(fake.account_id, "not-a-uuid")
    assert bad.value.field == "contact_id"
    assert fake.requests == []


async def test_the_simulator_accepts_put_as_patch(fake: FakeBillabex) -> None:
    """Billabex's NetSuite connector updates with PUT: the fake treats it as PATCH."""
    import aiohttp

    stored = fake.add_contact(fake.account_id, full_name="Ada Lovelace", email="ada@example.org")
    url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts/{stored.id}"
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, json={"role": "CFO"}, headers=headers) as resp,
    ):
        assert resp.status == 200
        body = await resp.json()
    assert body["role"] == "CFO"
    assert body["fullName"] == "Ada Lovelace"  # not sent: untouched
    assert fake.contact(fake.account_id, stored.id).email is not None


async def test_cli_contacts_get_prints_the_contact_as_json(fake: FakeBillabex) -> None:
    stored = fake.add_contact(fake.account_id, full_name="Ada Lovelace", email="ada@example.org")
    found = await billabex(fake, "contacts", "get", fake.account_id, str(stored.id))
    assert found.code == 0, found.err
    printed = json.loads(found.out)
    assert printed["id"] == str(stored.id)
    assert printed["fullName"] == "Ada Lovelace"
    assert printed["email"] == {"address": "ada@example.org", "status": "Valid"}
    absent = await billabex(fake, "contacts", "get", fake.account_id, str(uuid.uuid4()))
    assert absent.code == 1
    assert "404" in absent.err or "not found" in absent.err.lower()


async def test_cli_prints_server_text_literally_never_as_markup(scripted: ScriptedServer) -> None:
    """A message with rich markup in it ([/x] closes nothing) must print as sent, not crash."""

    async def not_found(request: web.Request) -> web.Response:
        body = {"message": "no [/x] contact [bold]here[/bold]", "code": "app.not-found"}
        return web.json_response(body, status=404)

    scripted.script(not_found)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABEX_")}
    env |= {"BILLABEX_BASE_URL": scripted.url, "BILLABEX_TOKEN": TOKEN, "NO_COLOR": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billabex_async",
        "--rate-limit",
        "off",
        "contacts",
        "get",
        str(uuid.uuid4()),
        str(uuid.uuid4()),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, err = await process.communicate()
    assert process.returncode == 1, err.decode()
    assert "no [/x] contact [bold]here[/bold]" in err.decode()
    assert "Traceback" not in err.decode()
