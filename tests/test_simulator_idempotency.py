"""FakeBillabex honours Idempotency-Key on every write: replays within the window,
refuses a reused key, scopes keys per account, forgets them on its own clock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from billabex_async.testing import FakeBillabex

from ._simulator_calls import call, contacts_path

ADA = {"fullName": "Ada Lovelace", "language": "en", "email": "ada@example.com"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=5, clock=clock, idempotency_window=60.0) as f:
        yield f


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_every_write_replays_its_first_answer(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    base = contacts_path(fake)
    ada = fake.add_contact(fake.account_id, full_name="Ada Lovelace", language="en")
    one = f"{base}/{ada.id}"
    writes: list[tuple[str, str, Any]] = [
        ("POST", base, {"fullName": "Grace Hopper", "language": "en"}),
        ("PUT", base + "/upsert", {"fullName": "Alan Turing", "language": "en"}),
        ("PATCH", one, {"notes": "first"}),
        ("PUT", one, {"role": "CFO"}),
        ("DELETE", one, None),
    ]
    for i, (method, path, body) in enumerate(writes):
        args = () if body is None else (body,)
        first = await call(session, fake, method, path, *args, headers=key(f"k{i}"))
        before = fake.contacts(fake.account_id)
        again = await call(session, fake, method, path, *args, headers=key(f"k{i}"))
        assert (again[0], again[2]) == (first[0], first[2]), method  # same status and body
        assert "Idempotent-Replayed" not in first[1]
        assert again[1]["Idempotent-Replayed"] == "true"
        assert fake.contacts(fake.account_id) == before  # nothing applied again
    assert [r.replayed for r in fake.requests] == [False, True] * len(writes)
    assert [r.idempotency_key for r in fake.requests] == [f"k{i // 2}" for i in range(10)]


async def test_a_delete_replay_answers_204_where_a_resend_would_get_404(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    ada = fake.add_contact(fake.account_id, full_name="Ada", language="en")
    path = f"{contacts_path(fake)}/{ada.id}"
    assert (await call(session, fake, "DELETE", path, headers=key("d")))[0] == 204
    assert (await call(session, fake, "DELETE", path, headers=key("d")))[0] == 204
    assert (await call(session, fake, "DELETE", path, headers=key("other")))[0] == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "", {**ADA, "language": "fr"}),  # another body
        ("POST", "", {"language": "en", "fullName": "Ada Lovelace", "email": "ada@example.com"}),
        ("PUT", "/upsert", ADA),  # another method and path
    ],
)
async def test_a_key_reused_for_another_request_is_refused(
    fake: FakeBillabex, session: aiohttp.ClientSession, method: str, suffix: str, body: Any
) -> None:
    base = contacts_path(fake)
    assert (await call(session, fake, "POST", base, ADA, headers=key("k")))[0] == 201
    status, _, error = await call(session, fake, method, base + suffix, body, headers=key("k"))
    assert (status, error["code"]) == (409, "app-core.idempotency.key-reused")
    assert len(fake.contacts(fake.account_id)) == 1  # nothing applied


async def test_keys_are_scoped_per_account_not_per_token(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    other = fake.create_account()
    here, there = contacts_path(fake), f"/accounts/{other}/contacts"
    assert (await call(session, fake, "POST", here, ADA, headers=key("k")))[0] == 201
    assert (await call(session, fake, "POST", there, ADA, headers=key("k")))[0] == 201
    second_token = fake.issue_token()
    _, headers, _ = await call(
        session, fake, "POST", here, ADA, token=second_token, headers=key("k")
    )
    assert headers["Idempotent-Replayed"] == "true"  # a refreshed token finds its keys
    # The account id is compared in canonical form.
    upper = f"/accounts/{fake.account_id.upper()}/contacts"
    _, headers, _ = await call(session, fake, "POST", upper, ADA, headers=key("k"))
    assert "Idempotent-Replayed" not in headers  # same account, another path: another request
    assert len(fake.contacts(fake.account_id)) == 1
    assert len(fake.contacts(other)) == 1


async def test_a_key_is_forgotten_when_its_window_ends(
    fake: FakeBillabex, session: aiohttp.ClientSession, clock: Clock
) -> None:
    base = contacts_path(fake)
    await call(session, fake, "POST", base, ADA, headers=key("k"))
    clock.now += 59.9
    _, headers, _ = await call(session, fake, "POST", base, ADA, headers=key("k"))
    assert headers["Idempotent-Replayed"] == "true"
    assert len(fake.contacts(fake.account_id)) == 1
    clock.now += 0.1  # 60 s after the first answer: a new request
    status, headers, _ = await call(session, fake, "POST", base, ADA, headers=key("k"))
    assert (status, "Idempotent-Replayed" in headers) == (201, False)
    assert len(fake.contacts(fake.account_id)) == 2
    assert len(fake._core.idempotency) == 1  # the expired answer was dropped


@pytest.mark.parametrize("bad", ["", "two words", "x" * 256])
async def test_a_malformed_key_is_refused_before_applying(
    fake: FakeBillabex, session: aiohttp.ClientSession, bad: str
) -> None:
    status, _, error = await call(session, fake, "POST", contacts_path(fake), ADA, headers=key(bad))
    assert (status, error["code"]) == (400, "app-core.idempotency.invalid-key")
    assert fake.contacts(fake.account_id) == []


async def test_refused_writes_are_not_remembered(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    base = contacts_path(fake)
    bad = {"fullName": "Ada", "language": "EN"}
    assert (await call(session, fake, "POST", base, bad, headers=key("k")))[0] == 422
    assert (await call(session, fake, "POST", base, ADA, headers=key("k")))[0] == 201


async def test_two_sends_of_one_key_at_once_apply_it_once(clock: Clock) -> None:
    async with (
        FakeBillabex(rate_limit=None, latency=0.01, clock=clock) as fake,
        aiohttp.ClientSession() as session,
    ):
        path = contacts_path(fake)
        answers = await asyncio.gather(
            *(call(session, fake, "POST", path, ADA, headers=key("k")) for _ in range(5))
        )
        assert {a[0] for a in answers} == {201}
        assert len({a[2]["id"] for a in answers}) == 1
        assert len(fake.contacts(fake.account_id)) == 1
        assert sum(not r.replayed for r in fake.requests) == 1


async def test_without_a_window_keys_are_ignored(session: aiohttp.ClientSession) -> None:
    async with FakeBillabex(rate_limit=None, idempotency_window=None) as fake:
        for _ in range(2):
            await call(session, fake, "POST", contacts_path(fake), ADA, headers=key("k"))
        assert len(fake.contacts(fake.account_id)) == 2
        assert not any(r.replayed for r in fake.requests)


async def test_a_write_without_a_key_is_not_remembered(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    await call(session, fake, "PUT", contacts_path(fake) + "/upsert", ADA)
    assert len(fake._core.idempotency) == 0
    assert fake.requests[-1].idempotency_key is None


@pytest.mark.parametrize("window", [0.0, -1.0])
def test_the_window_must_be_positive(window: float) -> None:
    with pytest.raises(ValueError, match="idempotency_window"):
        FakeBillabex(idempotency_window=window)


async def test_unknown_accounts_are_not_remembered(
    fake: FakeBillabex, session: aiohttp.ClientSession
) -> None:
    path = f"/accounts/{uuid.uuid4()}/contacts"
    assert (await call(session, fake, "POST", path, ADA, headers=key("k")))[0] == 404
    assert len(fake._core.idempotency) == 0
