"""FakeBillabex(read_lag=N): list pages lag API writes by N list requests; matching does not."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billabex_async._generated.models import ContactUpdate
from billabex_async.testing import FakeBillabex
from billabex_async.testing._stale import StaleReads
from billabex_async.testing._store import Store

API = "/api/public/v1"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Api:
    """Requests to one fake's account, as (status, JSON body)."""

    def __init__(self, session: aiohttp.ClientSession, fake: FakeBillabex) -> None:
        self.session, self.fake = session, fake

    async def __call__(
        self, method: str, path: str = "", json: Any = None, account: str | None = None
    ) -> tuple[int, Any]:
        url = f"{self.fake.url}{API}/accounts/{account or self.fake.account_id}/contacts{path}"
        headers = {"Authorization": f"Bearer {self.fake.token}"}
        async with self.session.request(method, url, json=json, headers=headers) as resp:
            return resp.status, (await resp.json() if await resp.read() else None)

    async def names(self, account: str | None = None) -> list[str]:
        """The full names one list request shows (a single page is enough here)."""
        status, page = await self("GET", "", account=account)
        assert status == 200
        return [node["fullName"] for node in page["nodes"]]


@pytest.fixture
async def lagging(session: aiohttp.ClientSession) -> AsyncIterator[Api]:
    async with FakeBillabex(rate_limit=None, read_lag=2, seed=5) as fake:
        yield Api(session, fake)


async def test_a_created_contact_is_listed_from_the_third_list_on(lagging: Api) -> None:
    status, _ = await lagging("POST", json={"fullName": "Ada Lovelace", "language": "en"})
    assert status == 201
    assert await lagging.names() == []
    assert await lagging.names() == []
    assert await lagging.names() == ["Ada Lovelace"]
    assert [c.full_name for c in lagging.fake.contacts(lagging.fake.account_id)] == ["Ada Lovelace"]


async def test_upsert_matching_sees_the_write_the_list_does_not_show(lagging: Api) -> None:
    body = {"fullName": "Ada Lovelace", "language": "en", "email": "ada@example.com"}
    assert (await lagging("PUT", "/upsert", body))[0] == 201
    assert await lagging.names() == []
    # The re-sent upsert is matched: an update, never a second contact.
    assert (await lagging("PUT", "/upsert", body))[0] == 200
    assert len(lagging.fake.contacts(lagging.fake.account_id)) == 1


async def test_an_update_shows_the_old_fields_until_it_lands(lagging: Api) -> None:
    fake = lagging.fake
    ada = fake.add_contact(fake.account_id, full_name="Ada Lovelace")  # direct: no lag
    assert await lagging.names() == ["Ada Lovelace"]
    assert (await lagging("PATCH", f"/{ada.id}", {"fullName": "Ada King"}))[0] == 200
    assert await lagging.names() == ["Ada Lovelace"]
    assert await lagging.names() == ["Ada Lovelace"]
    assert await lagging.names() == ["Ada King"]


async def test_a_deleted_contact_stays_listed_until_it_lands_and_cursors_pass_it(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeBillabex(rate_limit=None, read_lag=3, seed=5) as fake:
        api = Api(session, fake)
        ids = [fake.add_contact(fake.account_id, full_name=n).id for n in ("Ann", "Bob", "Cyd")]
        assert (await api("DELETE", f"/{ids[1]}"))[0] == 204
        # Paged one by one, the deleted contact is still walked over in its place.
        _, page = await api("GET", "?first=1")
        seen = [page["nodes"][0]["fullName"]]
        _, page = await api("GET", f"?first=1&after={page['pageInfo']['endCursor']}")
        seen.append(page["nodes"][0]["fullName"])
        assert seen == ["Ann", "Bob"]
        _, page = await api("GET", f"?first=1&after={page['pageInfo']['endCursor']}")
        assert [n["fullName"] for n in page["nodes"]] == ["Cyd"]
        assert await api.names() == ["Ann", "Cyd"]
        # Deleting it again is a 404 at once: only listing lags.
        assert (await api("DELETE", f"/{ids[1]}"))[0] == 404


async def test_the_lag_is_counted_per_account_and_settle_ends_it(lagging: Api) -> None:
    fake = lagging.fake
    other = fake.create_account()
    await lagging("POST", json={"fullName": "Ada", "language": "en"})
    await lagging("POST", json={"fullName": "Bob", "language": "en"}, account=other)
    # Lists of another account do not bring this one's writes closer.
    for _ in range(3):
        assert await lagging.names(other) in ([], ["Bob"])
    assert await lagging.names(other) == ["Bob"]
    assert await lagging.names() == []
    fake.settle_reads()
    assert await lagging.names() == ["Ada"]


async def test_without_read_lag_writes_are_listed_at_once(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        api = Api(session, fake)
        await api("POST", json={"fullName": "Ada", "language": "en"})
        assert await api.names() == ["Ada"]


def test_a_negative_lag_is_refused() -> None:
    with pytest.raises(ValueError, match="read_lag"):
        FakeBillabex(read_lag=-1)


# -- the listing is the store replayed up to the writes that landed -------------

_OPS = st.lists(
    st.sampled_from(["create", "update", "delete", "list", "list"]), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(lag=st.integers(0, 4), ops=_OPS, first=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_pages_show_exactly_the_writes_older_than_the_lag(
    lag: int, ops: list[str], first: int, seed: int
) -> None:
    rng = random.Random(seed)
    store = Store(random.Random(seed))
    account = store.create_account()
    reads = StaleReads(lag)
    # The model: every write with the list count it was made at, replayed.
    history: list[tuple[int, int, bytes | None]] = []  # (lists before it, seq, JSON after)
    lists = 0
    for n, op in enumerate(ops):
        live = list(account.by_seq.values())
        if op == "create" or (op in {"update", "delete"} and not live):
            record = store.insert(account, ContactUpdate(full_name=f"c{n}", language="en"))
            reads.written(account, record.seq, None)
            history.append((lists, record.seq, record.wire()))
        elif op == "update":
            record = rng.choice(live)
            before = record.wire()
            store.apply(account, record, ContactUpdate(full_name=f"u{n}"))
            reads.written(account, record.seq, before)
            history.append((lists, record.seq, record.wire()))
        elif op == "delete":
            record = rng.choice(live)
            before = record.wire()
            store.delete(account, record)
            reads.written(account, record.seq, before)
            history.append((lists, record.seq, None))
        else:
            lists += 1
            landed: dict[int, bytes | None] = {}
            for made_at, seq, after in history:
                if made_at + lag < lists:  # shown from the (lag + 1)-th list after it
                    landed[seq] = after
            expected = [(s, w) for s, w in sorted(landed.items()) if w is not None]
            assert reads.page(account, 0, first) == expected[:first]
