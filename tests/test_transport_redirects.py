"""Redirects are never followed: a 3xx is a typed error naming the Location host,
nothing is re-sent anywhere, and no write is reported as done."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from billabex_async import BillabexClient, ContactUpsert, errors

from ._scripted import ACCOUNT, CONTACT, client_for, contact_json, reply
from ._servers import scripted_server
from .conftest import TOKEN, ScriptedServer

Call = Callable[[BillabexClient], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "GET": lambda c: c.contacts.list(ACCOUNT),
    "POST": lambda c: c.contacts.create(ACCOUNT, full_name="Zelda Quist", language="en"),
    "PUT": lambda c: c.contacts.upsert(ACCOUNT, full_name="Zelda Quist", language="en"),
    "PATCH": lambda c: c.contacts.update(ACCOUNT, CONTACT, full_name="Zelda Quist"),
    "DELETE": lambda c: c.contacts.delete(ACCOUNT, CONTACT),
}


def redirect(status: int, location: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = f'<a href="{location}">moved</a>'
        return web.Response(status=status, text=body, headers={"Location": location})

    return handler


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", list(CALLS))
async def test_a_redirect_is_a_typed_error_and_nothing_reaches_its_target(
    scripted: ScriptedServer, method: str, status: int
) -> None:
    async with scripted_server() as elsewhere:
        elsewhere.default = reply(200, contact_json(fullName="From elsewhere"))
        scripted.default = redirect(status, f"{elsewhere.url}/steal?q=secret-query")
        async with client_for(scripted, max_retries=4) as client:
            with pytest.raises(errors.UnexpectedRedirectError) as caught:
                await CALLS[method](client)
        assert elsewhere.seen == []  # neither followed nor re-sent there
    assert [s.method for s in scripted.seen] == [method]  # and never retried
    error = caught.value
    assert isinstance(error, errors.APIStatusError)
    assert error.status == status
    assert error.location_host == "127.0.0.1"
    text = str(error)
    assert f"-> {status}" in text
    assert "127.0.0.1" in text
    assert "secret-query" not in text
    assert "steal" not in text


async def test_the_message_names_the_location_host_only(scripted: ScriptedServer) -> None:
    scripted.default = redirect(302, "https://login.evil.example:8443/cb?code=s3cr3t#frag")
    async with client_for(scripted) as client:
        with pytest.raises(errors.UnexpectedRedirectError) as caught:
            await client.contacts.upsert(ACCOUNT, full_name="A", language="en")
    assert caught.value.location_host == "login.evil.example"
    assert "login.evil.example" in str(caught.value)
    for hidden in ("s3cr3t", "/cb", "8443", "frag", TOKEN):
        assert hidden not in str(caught.value)
        assert hidden not in repr(caught.value)


async def test_a_redirect_without_a_location_is_still_typed(scripted: ScriptedServer) -> None:
    scripted.default = reply(302)
    async with client_for(scripted) as client:
        with pytest.raises(errors.UnexpectedRedirectError) as caught:
            await client.contacts.list(ACCOUNT)
    assert caught.value.location_host is None
    assert "302" in str(caught.value)


@pytest.mark.parametrize("status", [302, 303, 307])
async def test_bulk_upsert_reports_redirected_items_as_failed(
    scripted: ScriptedServer, status: int
) -> None:
    async with scripted_server() as elsewhere:
        elsewhere.default = reply(200, contact_json())
        scripted.default = redirect(status, f"{elsewhere.url}/contacts")
        items = [ContactUpsert(full_name=f"Person {i:02}", language="en") for i in range(10)]
        async with client_for(scripted, max_retries=4) as client:
            report = await client.contacts.bulk_upsert(ACCOUNT, items, concurrency=3)
        assert elsewhere.seen == []
    assert report.succeeded == 0
    assert sorted(f.index for f in report.failed) == list(range(10))
    assert all(isinstance(f.error, errors.UnexpectedRedirectError) for f in report.failed)
    assert len(scripted.seen) == 10
