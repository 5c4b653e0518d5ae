"""FakeBillabex: the per-token sliding window of arrivals, driven by an injected clock."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from billabex_async._types import RateLimit
from billabex_async.testing import FakeBillabex

API = "/api/public/v1"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def hit(
    session: aiohttp.ClientSession,
    fake: FakeBillabex,
    *,
    token: str | None = None,
    create: str | None = None,
) -> tuple[int, CIMultiDictProxy[str]]:
    """GET the contact list, or POST a contact named ``create``."""
    url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts"
    headers = {"Authorization": f"Bearer {token or fake.token}"}
    if create is None:
        request = session.get(url, headers=headers)
    else:
        request = session.post(url, json={"fullName": create, "language": "en"}, headers=headers)
    async with request as resp:
        await resp.read()
        return resp.status, resp.headers


def remaining(headers: CIMultiDictProxy[str]) -> int:
    return int(headers["X-RateLimit-Remaining"])


async def test_headers_count_down_and_reset_is_when_the_oldest_leaves(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock()
    before = time.time()
    fake = FakeBillabex(rate_limit=RateLimit(3, 10.0), clock=clock)
    after = time.time()
    async with fake:
        _, h1 = await hit(session, fake)
        clock.now += 4
        _, h2 = await hit(session, fake)
    assert [h["X-RateLimit-Limit"] for h in (h1, h2)] == ["3", "3"]
    assert [remaining(h) for h in (h1, h2)] == [2, 1]
    # Reset: unix seconds, rounded up, when the first arrival leaves the window.
    reset = int(h1["X-RateLimit-Reset"])
    assert math.ceil(before + 10) <= reset <= math.ceil(after + 10)
    assert h2["X-RateLimit-Reset"] == h1["X-RateLimit-Reset"]


async def test_over_the_limit_is_429_with_retry_after_and_not_applied(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock()
    async with FakeBillabex(rate_limit=RateLimit(3, 10.0), clock=clock) as fake:
        for i in range(3):
            assert (await hit(session, fake, create=f"Person {i}"))[0] == 201
            clock.now += 1
        status, headers = await hit(session, fake, create="Too Many")
        assert status == 429
        # The arrival at t=1 must leave first: 1 + 10 - 3 = 8 s from now.
        assert headers["Retry-After"] == "8"
        assert remaining(headers) == 0
        assert [c.full_name for c in fake.contacts(fake.account_id)] == [
            "Person 0",
            "Person 1",
            "Person 2",
        ]
        assert fake.stats.rate_limited == 1
        assert list(fake.stats.rejected) == [1003.0]
        assert fake.requests[-1].status == 429


async def test_rejected_requests_burn_budget(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with FakeBillabex(rate_limit=RateLimit(3, 10.0), clock=clock) as fake:
        for _ in range(3):  # arrivals at 0, 1, 2
            await hit(session, fake)
            clock.now += 1
        assert (await hit(session, fake))[0] == 429  # at 3: counted anyway
        clock.now = 1010.0  # t=0 has left; 1, 2 and the rejected 3 remain
        status, headers = await hit(session, fake)
        assert status == 429
        assert headers["Retry-After"] == "2"  # t=2 leaves at 12
        clock.now = 1012.0  # 1 and 2 gone: 3 and 10 remain
        status, headers = await hit(session, fake)
        assert (status, remaining(headers)) == (200, 0)
        assert fake.stats.rate_limited == 2


async def test_an_arrival_leaves_exactly_one_window_later(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with FakeBillabex(rate_limit=RateLimit(1, 10.0), clock=clock) as fake:
        assert (await hit(session, fake))[0] == 200
        clock.now += 9.999
        assert (await hit(session, fake))[0] == 429
        clock.now = 1000.0 + 10.0 + 10.0  # the rejected one at 9.999 left too
        assert (await hit(session, fake))[0] == 200


async def test_windows_are_per_token(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with FakeBillabex(rate_limit=RateLimit(2, 60.0), clock=clock) as fake:
        other = fake.issue_token()
        assert [(await hit(session, fake))[0] for _ in range(3)] == [200, 200, 429]
        status, headers = await hit(session, fake, token=other)
        assert (status, remaining(headers)) == (200, 1)


async def test_unauthenticated_requests_do_not_count(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with FakeBillabex(rate_limit=RateLimit(5, 60.0), clock=clock) as fake:
        for _ in range(3):
            assert (await hit(session, fake, token="wrong"))[0] == 401
        async with session.get(fake.url + API + "/status") as resp:
            assert remaining(resp.headers) == 5
        _, headers = await hit(session, fake)
        assert remaining(headers) == 4
        assert fake.stats.requests == 5  # every request...
        assert list(fake.stats.arrivals) == [1000.0]  # ...but one counted arrival


async def test_max_in_window_slides(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with FakeBillabex(rate_limit=RateLimit(100, 10.0), clock=clock) as fake:
        for t in (0, 0, 9, 9, 15, 15, 15):
            clock.now = 1000.0 + t
            await hit(session, fake)
        # Windows: {0,0,9,9} = 4 and (5, 15] = {9,9,15,15,15} = 5.
        assert fake.stats.max_in_window == 5
        assert list(fake.stats.arrivals) == [1000.0 + t for t in (0, 0, 9, 9, 15, 15, 15)]
        fake.reset_stats()
        assert (fake.stats.requests, fake.stats.max_in_window, list(fake.stats.arrivals)) == (
            0,
            0,
            [],
        )
        await hit(session, fake)
        assert fake.stats.max_in_window == 6  # the window itself was kept


async def test_none_disables_limiting_and_its_headers(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with FakeBillabex(rate_limit=None, clock=clock) as fake:
        statuses = [(await hit(session, fake))[0] for _ in range(350)]
        assert set(statuses) == {200}
        _, headers = await hit(session, fake)
        assert "X-RateLimit-Remaining" not in headers
        assert fake.stats.max_in_window == 351  # still measured, over 60 s


async def test_foreign_consumer_spends_its_share(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    fake = FakeBillabex(rate_limit=RateLimit(10, 10.0), foreign_share=0.5, clock=clock)
    async with fake:
        # 0.5 * 10 / 10 s = one foreign arrival every 2 s from the first request.
        assert remaining((await hit(session, fake))[1]) == 9
        clock.now += 4  # foreign arrivals at +2 and +4
        assert remaining((await hit(session, fake))[1]) == 6
        assert fake.stats.foreign == 2
        clock.now = 1020.0  # window (1010, 1020]: foreign at 12..20 (5) + this one
        assert remaining((await hit(session, fake))[1]) == 4
        assert fake.stats.foreign == 10
        assert list(fake.stats.arrivals) == [1000.0, 1004.0, 1020.0]  # real ones only


async def test_foreign_consumer_can_push_a_client_into_429(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    fake = FakeBillabex(rate_limit=RateLimit(4, 10.0), foreign_share=0.5, clock=clock)
    async with fake:
        for _ in range(3):
            assert (await hit(session, fake))[0] == 200
        # 0.5 * 4 / 10 s: one foreign arrival every 5 s. At +5 the window holds
        # 3 + 1 foreign: this fifth arrival is over the limit of 4.
        clock.now += 5
        status, headers = await hit(session, fake)
        assert status == 429
        assert fake.stats.foreign == 1
        assert headers["Retry-After"] == "5"  # the first arrival leaves at +10


def test_foreign_share_must_leave_room() -> None:
    with pytest.raises(ValueError, match="foreign_share"):
        FakeBillabex(foreign_share=1.0)


async def test_concurrent_burst_admits_exactly_the_limit(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with FakeBillabex(rate_limit=RateLimit(40, 1.0), clock=clock) as fake:
        results = await asyncio.gather(*(hit(session, fake, create=f"P{i}") for i in range(50)))
        statuses = [status for status, _ in results]
        assert (statuses.count(201), statuses.count(429)) == (40, 10)
        assert len(fake.contacts(fake.account_id)) == 40  # no 429 was applied
        assert (fake.stats.rate_limited, fake.stats.max_in_window) == (10, 50)
        remainders = sorted(remaining(headers) for status, headers in results if status == 201)
        assert remainders == list(range(40))  # each admitted request saw its own slot
