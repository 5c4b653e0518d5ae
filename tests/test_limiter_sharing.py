"""One window per token: shared by clients in several threads and event loops,
and by clients that passed different RateLimits, against a real simulator."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

import pytest

from billabex_async import BillabexClient, RateLimit
from billabex_async._ratelimit import SlidingWindowLimiter, shared_memory_limiter
from billabex_async.testing import FakeBillabex

LIMIT, WINDOW = 20, 0.5  # small, so a few windows pass in a couple of seconds
JOIN_TIMEOUT = 60.0  # seconds; a stalled worker fails the test instead of hanging it


@pytest.fixture
def fake_in_thread() -> Iterator[FakeBillabex]:
    """A FakeBillabex serving from its own thread and event loop."""
    fake = FakeBillabex(rate_limit=RateLimit(LIMIT, WINDOW))
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        loop.run_until_complete(fake.start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(fake.close())
        loop.close()

    thread = threading.Thread(target=serve, name="fake-billabex", daemon=True)
    thread.start()
    assert started.wait(JOIN_TIMEOUT), "the simulator did not start"
    try:
        yield fake
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(JOIN_TIMEOUT)


async def _upserts(client: BillabexClient, account_id: str, tag: str, count: int) -> None:
    await asyncio.gather(
        *(
            client.contacts.upsert(
                account_id, full_name=f"{tag} {i}", language="en", email=f"{tag}.{i}@example.com"
            )
            for i in range(count)
        )
    )


def test_two_threads_with_their_own_loops_share_one_window(
    fake_in_thread: FakeBillabex,
) -> None:
    fake = fake_in_thread
    per_thread = 50
    limiters: list[object] = []
    failures: list[BaseException] = []

    def worker(tag: str) -> None:
        async def main() -> None:
            rate_limit = RateLimit(LIMIT, WINDOW)
            async with BillabexClient(fake.token, base_url=fake.url, rate_limit=rate_limit) as c:
                limiters.append(c.limiter)  # kept alive: both threads must get this one
                await _upserts(c, fake.account_id, tag, per_thread)

        try:
            # Debug mode raises on any loop call made from the wrong thread.
            asyncio.run(main(), debug=True)
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a worker stalled"
    assert failures == []
    assert limiters[0] is limiters[1]  # one window for the token, not one per loop
    stats = fake.stats
    assert stats.requests == 2 * per_thread
    assert stats.rate_limited == 0
    assert stats.max_in_window <= LIMIT


async def test_clients_with_different_limits_on_one_token_share_the_smallest() -> None:
    async with FakeBillabex(rate_limit=RateLimit(LIMIT, WINDOW)) as fake:
        # One thinks the token allows one more than it does.
        loose = BillabexClient(
            fake.token, base_url=fake.url, rate_limit=RateLimit(LIMIT + 1, WINDOW)
        )
        strict = BillabexClient(fake.token, base_url=fake.url, rate_limit=RateLimit(LIMIT, WINDOW))
        async with loose, strict:
            assert loose.limiter is strict.limiter
            await asyncio.gather(
                _upserts(loose, fake.account_id, "loose", 40),
                _upserts(strict, fake.account_id, "strict", 40),
            )
        assert fake.stats.requests == 80
        assert fake.stats.rate_limited == 0
        assert fake.stats.max_in_window <= LIMIT


def test_a_collected_clients_limit_stops_applying() -> None:
    class Owner:
        """Stands for a client: only its lifetime matters."""

    key = "test-collected-client-limit"
    loose, strict = Owner(), Owner()
    limiter = shared_memory_limiter(key, 10, 1.0, owner=loose)
    assert shared_memory_limiter(key, 5, 1.0, owner=strict) is limiter
    assert limiter.limit == 5
    del strict
    gc.collect()
    assert limiter.limit == 10
    assert isinstance(limiter, SlidingWindowLimiter)
    del loose
