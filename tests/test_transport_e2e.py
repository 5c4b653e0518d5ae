"""The whole stack against the simulator at its rate limit, with faults on:
zero 429s from our own sending, nothing lost, nothing duplicated.

Client and simulator share a VirtualClock: the windows pass in virtual
seconds, so the run takes milliseconds and its utilisation is exact."""

from __future__ import annotations

import asyncio
import random
import string

from billabex_async import BillabexClient, ContactUpsert, RateLimit
from billabex_async.testing import FakeBillabex, Faults, VirtualClock

ITEMS = 400
CONCURRENCY = 16


def _people(n: int) -> list[ContactUpsert]:
    # Random 12-letter names: Billabex matches names within 2 edits, so
    # "Person 0001" and "Person 0002" would be one contact.
    rng = random.Random(n)
    names = ["".join(rng.choices(string.ascii_lowercase, k=12)).title() for _ in range(n)]
    return [
        ContactUpsert(full_name=name, language="en", email=f"person{i}@acme.test")
        for i, name in enumerate(names)
    ]


async def _push(client: BillabexClient, account_id: str, items: list[ContactUpsert]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: ContactUpsert) -> None:
        async with gate:
            await client.contacts.upsert(account_id, item)

    await asyncio.gather(*(one(item) for item in items))


async def test_faulty_server_at_the_limit_loses_nothing_and_draws_no_429() -> None:
    faults = Faults(error_rate=0.05, reset_before_rate=0.02, reset_after_rate=0.02)
    clock = VirtualClock()
    async with FakeBillabex(
        rate_limit=RateLimit(40, 1.0), faults=faults, seed=1234, clock=clock
    ) as fake:
        async with BillabexClient(
            fake.token, base_url=fake.url, rate_limit=RateLimit(40, 1.0), max_retries=8, clock=clock
        ) as client:
            await _push(client, fake.account_id, _people(ITEMS))
        stored = fake.contacts(fake.account_id)
        stats = fake.stats
    assert stats.rate_limited == 0
    assert stats.max_in_window == 40  # the limit, used to the full
    assert clock.time() <= stats.requests / 40 + 1.0  # no more than one window idle
    emails = sorted(c.email.address for c in stored if c.email is not None)
    assert emails == sorted(f"person{i}@acme.test" for i in range(ITEMS))  # none lost, none twice
    assert stats.requests > ITEMS  # the faults did force retries


async def test_a_foreign_consumer_on_the_same_token_costs_time_not_data() -> None:
    clock = VirtualClock()
    async with FakeBillabex(
        rate_limit=RateLimit(40, 1.0), foreign_share=0.2, seed=99, clock=clock
    ) as fake:
        async with BillabexClient(
            fake.token, base_url=fake.url, rate_limit=RateLimit(40, 1.0), max_retries=8, clock=clock
        ) as client:
            await _push(client, fake.account_id, _people(ITEMS))
        stored = fake.contacts(fake.account_id)
        stats = fake.stats
    assert len(stored) == ITEMS
    # Our share and the foreign one together fill the window, one window idle at
    # most, plus one window per 429: before the consumer has been seen (the first
    # window), a 429 can happen, and its Retry-After pause costs up to a window.
    # How many happen depends on how requests interleave, which load can change.
    assert stats.rate_limited <= 2
    assert clock.time() <= (stats.requests + stats.foreign) / 40 + 1.0 + stats.rate_limited
    assert len({c.email.address for c in stored if c.email is not None}) == ITEMS
