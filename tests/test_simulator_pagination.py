"""FakeBillabex: cursor pagination of GET .../contacts."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from billabex_async.testing import FakeBillabex

API = "/api/public/v1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, max_page_size=50) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_page(
    session: aiohttp.ClientSession, fake: FakeBillabex, account_id: str | None = None, **query: Any
) -> tuple[int, dict[str, Any]]:
    url = f"{fake.url}{API}/accounts/{account_id or fake.account_id}/contacts"
    headers = {"Authorization": f"Bearer {fake.token}"}
    params = {k: str(v) for k, v in query.items()}
    async with session.get(url, params=params, headers=headers) as resp:
        return resp.status, await resp.json()


def names(page: dict[str, Any]) -> list[str]:
    return [node["fullName"] for node in page["nodes"]]


async def test_walk_returns_everything_in_creation_order_then_an_empty_page(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    for i in range(7):
        fake.add_contact(fake.account_id, full_name=f"Person {i:02d}")
    seen: list[str] = []
    status, page = await get_page(session, fake, first=3)
    pages = 1
    while page["nodes"]:
        assert status == 200
        assert page["pageInfo"]["endCursor"]  # a non-empty page always has one
        seen += names(page)
        status, page = await get_page(session, fake, first=3, after=page["pageInfo"]["endCursor"])
        pages += 1
    assert seen == [f"Person {i:02d}" for i in range(7)]
    assert pages == 4  # 3 + 3 + 1, then the empty page
    assert page == {"nodes": [], "pageInfo": {"endCursor": None}}


async def test_empty_account_returns_an_empty_page(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    assert await get_page(session, fake) == (200, {"nodes": [], "pageInfo": {"endCursor": None}})


async def test_default_first_is_100_capped_at_max_page_size(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        fake.seed_contacts(fake.account_id, 150)
        assert len((await get_page(session, fake))[1]["nodes"]) == 100
        assert len((await get_page(session, fake, first=1000))[1]["nodes"]) == 100
        assert len((await get_page(session, fake, first=7))[1]["nodes"]) == 7


async def test_capped_cursor_goes_on_with_the_same_first(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    fake.seed_contacts(fake.account_id, 120)
    _, page = await get_page(session, fake, first=500)
    assert len(page["nodes"]) == 50
    status, page2 = await get_page(session, fake, first=500, after=page["pageInfo"]["endCursor"])
    assert (status, len(page2["nodes"])) == (200, 50)
    assert set(names(page)).isdisjoint(names(page2))


@pytest.mark.parametrize("first", ["0", "-1", "abc", "1.5", ""])
async def test_invalid_first_is_400(
    fake: FakeBillabex, session: aiohttp.ClientSession, first: str
) -> None:
    status, body = await get_page(session, fake, first=first)
    assert (status, body["code"]) == (400, "app-contacts.pagination.invalid-first")


@pytest.mark.parametrize(
    "cursor", ["garbage!", "", "eyJ4IjoxfQ", base64.b64encode(b"[1]").decode()]
)
async def test_garbage_cursor_is_400(
    fake: FakeBillabex, session: aiohttp.ClientSession, cursor: str
) -> None:
    status, body = await get_page(session, fake, first=2, after=cursor)
    assert (status, body["code"]) == (400, "app-contacts.pagination.invalid-cursor")


async def test_cursor_reused_with_another_first_is_400(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    fake.seed_contacts(fake.account_id, 5)
    _, page = await get_page(session, fake, first=2)
    cursor = page["pageInfo"]["endCursor"]
    status, body = await get_page(session, fake, first=3, after=cursor)
    assert (status, body["code"]) == (400, "app-contacts.pagination.cursor-mismatch")
    # Omitting first means the default (100): also another query.
    assert (await get_page(session, fake, after=cursor))[0] == 400
    assert (await get_page(session, fake, first=2, after=cursor))[0] == 200


async def test_cursor_of_another_account_is_400(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    other = fake.create_account()
    fake.seed_contacts(other, 3)
    _, page = await get_page(session, fake, other, first=2)
    status, _ = await get_page(session, fake, first=2, after=page["pageInfo"]["endCursor"])
    assert status == 400


async def test_end_cursor_points_after_the_last_node(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    fake.seed_contacts(fake.account_id, 4)
    _, first_two = await get_page(session, fake, first=2)
    _, one = await get_page(session, fake, first=1)
    _, two = await get_page(session, fake, first=1, after=one["pageInfo"]["endCursor"])
    assert names(one) + names(two) == names(first_two)


async def test_walk_survives_inserts_and_deletes_between_pages(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    fake.seed_contacts(fake.account_id, 40)
    stable = {str(c.id) for c in fake.contacts(fake.account_id)}
    seen: list[str] = []
    query: dict[str, Any] = {"first": 6}
    for step in range(100):  # bounded: a walk that never ends fails below
        status, page = await get_page(session, fake, **query)
        assert status == 200
        if not page["nodes"]:
            break
        seen += [node["id"] for node in page["nodes"]]
        query["after"] = page["pageInfo"]["endCursor"]
        # Between pages: delete the node the cursor points at, one already
        # seen and one not yet seen; add a contact (appended at the end).
        live = [str(c.id) for c in fake.contacts(fake.account_id)]
        for contact_id in {seen[-1], seen[0], live[-1]} & set(live):
            fake.remove_contact(fake.account_id, contact_id)
            stable.discard(contact_id)
        if step < 3:
            fake.add_contact(fake.account_id, full_name=f"Newcomer {step}")
    else:
        pytest.fail("the walk did not end")
    assert len(seen) == len(set(seen))  # nothing seen twice
    assert stable <= set(seen)  # every contact present for the whole walk was seen
    assert stable  # the test deleted some, not all
