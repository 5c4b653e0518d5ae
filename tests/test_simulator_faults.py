"""FakeBillabex: seeded random faults, scripted faults and latency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from billabex_async._types import RateLimit
from billabex_async.testing import FakeBillabex, Faults
from billabex_async.testing._store import Store

API = "/api/public/v1"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # A fresh connection per request: aiohttp silently retries an idempotent
    # request once when a *reused* connection drops, which would hide resets.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield session


async def send(
    session: aiohttp.ClientSession,
    fake: FakeBillabex,
    method: str = "POST",
    suffix: str = "",
    body: Any = None,
    token: str | None = None,
) -> tuple[int, dict[str, Any] | None]:
    url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts{suffix}"
    headers = {"Authorization": f"Bearer {token or fake.token}"}
    if body is None and method in {"POST", "PUT"}:
        body = {"fullName": "Ada Lovelace", "language": "en"}
    async with session.request(method, url, json=body, headers=headers) as resp:
        raw = await resp.read()
        return resp.status, (await resp.json() if raw else None)


async def test_error_rate_answers_503_without_applying(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(rate_limit=None, faults=Faults(error_rate=1.0)) as fake:
        status, body = await send(session, fake)
        assert body is not None
        assert (status, body["code"]) == (503, "app-core.service.unavailable")
        assert fake.contacts(fake.account_id) == []
        assert (fake.requests[-1].status, fake.requests[-1].fault) == (503, "status")


async def test_error_status_is_configurable(session: aiohttp.ClientSession) -> None:
    faults = Faults(error_rate=1.0, error_status=500)
    async with FakeBillabex(rate_limit=None, faults=faults) as fake:
        assert (await send(session, fake, "GET"))[0] == 500


async def test_reset_before_drops_the_connection_without_applying(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeBillabex(rate_limit=None, faults=Faults(reset_before_rate=1.0)) as fake:
        with pytest.raises(aiohttp.ClientConnectionError):
            await send(session, fake)
        assert fake.contacts(fake.account_id) == []
        [record] = fake.requests
        assert (record.status, record.fault) == (None, "reset_before")


async def test_reset_after_applies_the_write_but_the_client_sees_an_error(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeBillabex(rate_limit=None, faults=Faults(reset_after_rate=1.0)) as fake:
        with pytest.raises(aiohttp.ClientConnectionError):
            await send(session, fake)
        with pytest.raises(aiohttp.ClientConnectionError):
            await send(session, fake)  # the blind retry...
        names = [c.full_name for c in fake.contacts(fake.account_id)]
        assert names == ["Ada Lovelace", "Ada Lovelace"]  # ...made a duplicate
        assert [r.fault for r in fake.requests] == ["reset_after", "reset_after"]


async def test_scripted_faults_hit_matching_requests_the_given_times(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        scripted = fake.script(method="put", path_contains="/upsert", status=503, times=2)
        assert (await send(session, fake, "GET"))[0] == 200  # another method: untouched
        assert (await send(session, fake, "POST"))[0] == 201  # another path: untouched
        statuses = [(await send(session, fake, "PUT", "/upsert"))[0] for _ in range(3)]
        assert statuses == [503, 503, 200]  # the upsert matched the POSTed contact
        assert scripted.remaining == 0
        assert len(fake.contacts(fake.account_id)) == 1


@pytest.mark.parametrize(("kind", "applied"), [("reset_before", False), ("reset_after", True)])
async def test_scripted_resets(session: aiohttp.ClientSession, kind: Any, applied: bool) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        fake.script(kind=kind, method="POST")
        with pytest.raises(aiohttp.ClientConnectionError):
            await send(session, fake)
        assert len(fake.contacts(fake.account_id)) == int(applied)
        assert (await send(session, fake))[0] == 201  # spent: the next one goes through


async def test_status_after_applies_then_answers_the_error(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        fake.script(kind="status_after", status=504)
        status, body = await send(session, fake, "PUT", "/upsert")
        assert body is not None
        assert (status, body["code"]) == (504, "app-core.internal-error")
        assert len(fake.contacts(fake.account_id)) == 1  # the outcome was "unknown": applied


async def test_scripted_429_carries_retry_after(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        fake.script(status=429)
        url = f"{fake.url}{API}/accounts/{fake.account_id}/contacts"
        async with session.get(url, headers={"Authorization": f"Bearer {fake.token}"}) as resp:
            assert (resp.status, resp.headers["Retry-After"]) == (429, "1")
        assert fake.stats.rate_limited == 0  # not the limiter's doing


async def test_faults_never_touch_status(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(faults=Faults(reset_before_rate=1.0)) as fake:
        scripted = fake.script(status=500, times=5)
        async with session.get(fake.url + API + "/status") as resp:
            assert resp.status == 200
        assert scripted.remaining == 5  # not consumed by /status


async def test_faults_come_after_auth_and_rate_limit(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(rate_limit=RateLimit(1, 60.0)) as fake:
        scripted = fake.script(status=503, times=3)
        assert (await send(session, fake, "GET", token="wrong"))[0] == 401
        reader = fake.issue_token(scopes=("accounts:read",))
        assert (await send(session, fake, "POST", token=reader))[0] == 403
        assert (await send(session, fake, "GET"))[0] == 503  # first fault spent here
        assert (await send(session, fake, "GET"))[0] == 429  # the limiter answers first
        assert scripted.remaining == 2


async def test_random_faults_are_reproducible_with_a_seed(session: aiohttp.ClientSession) -> None:
    async def run(seed: int) -> list[int]:
        async with FakeBillabex(rate_limit=None, faults=Faults(error_rate=0.5), seed=seed) as fake:
            return [(await send(session, fake, "GET"))[0] for _ in range(24)]

    first, again, other = await run(3), await run(3), await run(4)
    assert first == again
    assert set(first) == {200, 503}
    assert first != other


async def test_faults_can_be_changed_while_running(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        assert (await send(session, fake, "GET"))[0] == 200
        fake.faults = Faults(error_rate=1.0)
        assert (await send(session, fake, "GET"))[0] == 503
        fake.faults = Faults()
        fake.script(status=500)
        fake.clear_script()
        assert (await send(session, fake, "GET"))[0] == 200


def record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace asyncio.sleep: positive delays are recorded, not slept."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        if delay > 0:
            slept.append(delay)
        else:  # aiohttp's own sleep(0) yields must still yield
            await real_sleep(0)

    # asyncio.sleep is looked up at call time by the gate (and by aiohttp).
    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    return slept


async def test_latency_and_jitter_sleep_in_the_handler(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept = record_sleeps(monkeypatch)
    async with FakeBillabex(rate_limit=None, latency=0.25, jitter=0.5, seed=1) as fake:
        for _ in range(20):
            await send(session, fake, "GET")
        async with session.get(fake.url + API + "/status") as resp:
            assert resp.status == 200
    assert len(slept) == 20  # /status is never delayed
    assert all(0.25 <= d <= 0.75 for d in slept)
    assert len(set(slept)) > 1


async def test_scripted_delay(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept = record_sleeps(monkeypatch)
    async with FakeBillabex(rate_limit=None) as fake:
        fake.script(kind="delay", delay=2.5)
        assert (await send(session, fake, "GET"))[0] == 200
    assert slept == [2.5]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"error_rate": 1.5},
        {"error_rate": 0.6, "reset_after_rate": 0.6},
        {"error_status": 404},
    ],
)
def test_invalid_faults_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Faults"):
        Faults(**kwargs)


async def test_a_simulator_bug_still_answers_json_and_is_logged(
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Store, "insert", broken)
    async with FakeBillabex(rate_limit=None) as fake:
        status, body = await send(session, fake)
        assert body is not None
        assert (status, body["code"]) == (500, "app-core.internal-error")
        assert fake.requests[-1].status == 500
    assert "RuntimeError: boom" in caplog.text
