"""Narrow request-shape checks with aioresponses: URL, headers and JSON body."""

from __future__ import annotations

import json

import aioresponses
from yarl import URL

from billabex_async import BillabexClient

from ._aioresponses_compat import mocked  # noqa: F401 - the fixture
from ._scripted import ACCOUNT, CONTACT, contact_json

API = "https://next.billabex.com/api/public/v1"


async def test_upsert_hits_the_production_url_with_json(
    mocked: aioresponses.aioresponses,  # noqa: F811
) -> None:
    mocked.put(f"{API}/accounts/{ACCOUNT}/contacts/upsert", payload=contact_json())
    async with BillabexClient("tok", rate_limit=None) as client:
        await client.contacts.upsert(ACCOUNT, full_name="Jane Roe", language="nl", notes="VIP")
    [(key, calls)] = mocked.requests.items()
    assert key == ("PUT", URL(f"{API}/accounts/{ACCOUNT}/contacts/upsert"))
    [call] = calls
    assert json.loads(call.kwargs["data"]) == {
        "fullName": "Jane Roe",
        "language": "nl",
        "notes": "VIP",
    }
    headers = call.kwargs["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["Authorization"] == "Bearer tok"


async def test_list_sends_first_and_after_as_query(
    mocked: aioresponses.aioresponses,  # noqa: F811
) -> None:
    url = f"{API}/accounts/{ACCOUNT}/contacts?first=25&after=opaque%3D%3D"
    mocked.get(url, payload={"nodes": [], "pageInfo": {"endCursor": None}})
    async with BillabexClient("tok", rate_limit=None) as client:
        page = await client.contacts.list(ACCOUNT, first=25, after="opaque==")
    assert page.nodes == []
    [(method, sent)] = mocked.requests
    assert method == "GET"
    assert sent.query == {"first": "25", "after": "opaque=="}


async def test_delete_has_no_body(mocked: aioresponses.aioresponses) -> None:  # noqa: F811
    mocked.delete(f"{API}/accounts/{ACCOUNT}/contacts/{CONTACT}", status=204)
    async with BillabexClient("tok", rate_limit=None) as client:
        await client.contacts.delete(ACCOUNT, CONTACT)
    [calls] = mocked.requests.values()
    assert calls[0].kwargs["data"] is None
    assert "Content-Type" not in calls[0].kwargs["headers"]
