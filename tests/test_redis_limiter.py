"""The Redis-shared limiter against a real redis-server: one window for every process,
releases, pauses and header corrections seen by all, and a choice when Redis is down."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import math
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import cast

import pytest

pytest.importorskip("redis", reason="redis-py missing: pip install 'billabex-async[redis]'")

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from billabex_async import BillabexClient, RateLimit
from billabex_async._ratelimit.redis import limiter as redis_limiter
from billabex_async._ratelimit.redis.limiter import RedisLimiter
from billabex_async._ratelimit.redis.scripts import KEY_PREFIX, floor_key, keys_for
from billabex_async.errors import RateLimiterUnavailableError
from billabex_async.testing import FakeBillabex

from ._redis import closed_port_url, find_redis_server, free_port, redis_server, redis_url_or_skip
from ._redis_worker import contact_for, spawn_workers

TOKEN = "sk-test-redis-0c4f9a1d"  # a fake bearer token; it must never reach Redis

MakeLimiter = Callable[..., RedisLimiter]

# Set while ``_wait_for_slot`` drives an acquire: its first sleep ends it.
_PROBING = contextvars.ContextVar("probing", default=False)


class _WouldWait(Exception):
    """Raised by a probed acquire instead of sleeping ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


async def _sleep(seconds: float) -> None:
    """The limiters' sleep: real, unless an acquire is being probed."""
    if _PROBING.get():
        raise _WouldWait(seconds)
    await asyncio.sleep(seconds)


async def _wait_for_slot(limiter: RedisLimiter) -> float:
    """What ``acquire()`` meets now: 0.0 when it takes a slot at once, else the
    seconds until one may free that Redis answered (its first sleep, uncapped)."""
    token = _PROBING.set(True)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(redis_limiter, "MAX_POLL", math.inf)
            await limiter.acquire()
    except _WouldWait as wait:
        return wait.seconds
    finally:
        _PROBING.reset(token)
    return 0.0


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from redis_url_or_skip()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client, to look at what the limiters wrote."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def key() -> str:
    """A fresh token hash per test, so tests never share a window."""
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest()


@pytest.fixture
async def make(redis_url: str, key: str) -> AsyncIterator[MakeLimiter]:
    """Builds limiters ("processes") on the test's key; all are closed at the end."""
    made: list[RedisLimiter] = []

    def factory(limit: int = 5, window: float = 30.0, **kwargs: object) -> RedisLimiter:
        kwargs.setdefault("key", key)
        kwargs.setdefault("sleep", _sleep)
        url = str(kwargs.pop("url", redis_url))
        limiter = RedisLimiter(url, limit, window, **kwargs)  # type: ignore[arg-type]
        made.append(limiter)
        return limiter

    yield factory
    for limiter in made:
        await limiter.aclose()


async def _slots(raw: aioredis.Redis, key: str) -> list[tuple[bytes, float]]:
    """The (member, expiry ms) pairs of a slots key, earliest expiry first."""
    return cast(list[tuple[bytes, float]], await raw.zrange(key, 0, -1, withscores=True))


async def _redis_now_ms(raw: aioredis.Redis) -> float:
    seconds, micros = await raw.time()
    now: float = seconds * 1000 + micros / 1000  # redis-py 5's time() is untyped
    return now


def _worst_window_count(intervals: list[tuple[float, float]], window: float) -> int:
    """Most requests that may have arrived within one window (arrival in [sent, answered])."""
    return max(sum(1 for s, r in intervals if s <= t and r > t - window) for t, _ in intervals)


async def test_never_more_than_limit_in_any_window_across_instances(make: MakeLimiter) -> None:
    limit, window = 8, 0.3
    limiters = [make(limit, window) for _ in range(4)]  # four "processes"
    rng = random.Random(11)
    intervals: list[tuple[float, float]] = []

    async def lane(limiter: RedisLimiter, n: int) -> None:
        for _ in range(n):
            await limiter.acquire()
            sent = time.time()  # the same clock as Redis TIME on this host
            await asyncio.sleep(rng.uniform(0.0, 0.02))  # the request's latency
            answered = time.time()
            limiter.release()
            intervals.append((sent, answered))

    await asyncio.gather(*(lane(limiter, 4) for limiter in limiters for _ in range(3)))
    for limiter in limiters:
        await limiter.flush()

    assert len(intervals) == 48
    worst = _worst_window_count(intervals, window)
    assert worst <= limit
    assert worst == limit  # and the limit was actually reached, not just respected


async def test_slot_is_in_flight_until_released_then_counts_one_window(
    make: MakeLimiter, raw: aioredis.Redis, key: str
) -> None:
    a, b = make(2, 30.0, lease=100.0), make(2, 30.0)
    await a.acquire()
    await a.acquire()
    slots = keys_for(key)[0]

    now = await _redis_now_ms(raw)
    scores = [score for _, score in await _slots(raw, slots)]
    assert all(95_000 < score - now <= 100_000 for score in scores)  # in flight: the lease
    assert await b.used() == 2
    # Both in flight: nothing can free before one window from now.
    assert 29.0 < await _wait_for_slot(b) <= 30.0

    a.release()
    await a.flush()
    now = await _redis_now_ms(raw)
    scores = [score for _, score in await _slots(raw, slots)]
    assert 25_000 < scores[0] - now <= 30_005  # answered: one window (+ edge margin)
    assert scores[1] - now > 95_000  # the other is still in flight
    assert await b.used() == 2  # a released slot still counts
    assert 0 < await _wait_for_slot(b) <= 30.005


async def test_expired_slots_free_the_window(
    make: MakeLimiter, raw: aioredis.Redis, key: str
) -> None:
    # A crashed process's slots: leases that ran out are no longer counted.
    slots = keys_for(key)[0]
    now = await _redis_now_ms(raw)
    await raw.zadd(slots, {f"crashed:{i}": now - 1 for i in range(3)})
    limiter = make(3, 30.0)
    assert await _wait_for_slot(limiter) == 0.0
    assert await raw.zcard(slots) == 1


async def test_keys_expire_and_never_hold_the_token(redis_url: str, raw: aioredis.Redis) -> None:
    async with FakeBillabex(rate_limit=RateLimit(10, 30.0)) as fake:
        client = BillabexClient(
            token=fake.token,
            base_url=fake.url,
            rate_limit=RateLimit(10, 30.0, storage=redis_url),
            timeout=5.0,
        )
        async with client:
            await client.contacts.upsert(fake.account_id, full_name="Ada Lovelace", language="en")
            limiter = client.limiter
            assert isinstance(limiter, RedisLimiter)
            limiter.pause(3.0)  # queued: closing the client must still send it
            assert fake.token not in repr(limiter)
        assert "redis=closed" in repr(limiter)

    token_hash = hashlib.sha256(fake.token.encode()).hexdigest()
    slots, paused, _ = keys_for(token_hash)
    assert 30_000 < await raw.pttl(slots) <= 35_000 + 5_000 + 5  # window + timeout + margin
    assert 0 < await raw.pttl(paused) <= 3_001
    names = [name.decode() async for name in raw.scan_iter(match=f"*{token_hash}*")]
    assert names
    assert all(name.startswith(KEY_PREFIX) for name in names)
    members = [member.decode() for member, _ in await _slots(raw, slots)]
    assert not any(fake.token in s for s in [*names, *members])


async def test_pause_reaches_other_instances(make: MakeLimiter) -> None:
    a, b = make(5, 30.0), make(5, 30.0)
    a.pause(5.0)
    await a.flush()
    assert 4.0 < await _wait_for_slot(b) <= 5.0
    assert await b.used() == 0  # paused, not full: nothing was taken
    a.pause(1.0)  # a shorter pause never shortens the one in force
    await a.flush()
    assert await _wait_for_slot(b) > 3.0


async def test_observe_adds_phantoms_seen_by_other_instances(make: MakeLimiter) -> None:
    a, b = make(10, 30.0), make(10, 30.0)
    await a.acquire()
    a.release()
    # The server counts 7 of 10 used; Redis knows only our 1: 6 phantoms.
    a.observe(limit=10, remaining=3, reset=time.time() + 20)
    await a.flush()
    assert await b.used() == 7
    for _ in range(3):
        assert await _wait_for_slot(b) == 0.0
    assert 15.0 < await _wait_for_slot(b) <= 21.0  # phantoms go when the server's window frees


async def test_a_lowered_limit_reaches_other_instances(make: MakeLimiter) -> None:
    a, b = make(10, 30.0), make(10, 30.0)
    a.observe(limit=2, remaining=None, reset=None)
    await a.flush()
    assert a.limit == 2
    assert await _wait_for_slot(b) == 0.0
    assert await _wait_for_slot(b) == 0.0
    assert await _wait_for_slot(b) > 0
    assert b.limit == 2


async def test_a_lowered_limit_lapses_one_window_after_its_last_mention(
    make: MakeLimiter, raw: aioredis.Redis, key: str
) -> None:
    a = make(10, 30.0)
    a.observe(limit=2, remaining=None, reset=None)
    await a.flush()
    _, _, limit_key = keys_for(key)
    # Kept for one window (not for good), renewed by each response that says so.
    assert 29_000 < await raw.pttl(limit_key) <= 30_010
    a.observe(limit=5, remaining=None, reset=None)  # higher: the lower one stands
    await a.flush()
    assert await raw.get(limit_key) == b"2"
    await raw.delete(limit_key)  # what its expiry does one window later
    assert await _wait_for_slot(a) == 0.0
    assert a.limit == 10  # the configured limit is back


async def test_the_smallest_configured_limit_wins_across_instances(
    make: MakeLimiter, raw: aioredis.Redis, key: str
) -> None:
    loose, strict = make(5, 30.0), make(3, 30.0)
    assert await _wait_for_slot(strict) == 0.0  # strict asks first: its limit is the floor
    for _ in range(2):
        assert await _wait_for_slot(loose) == 0.0
    assert await _wait_for_slot(loose) > 0  # 3 in the window: full for everyone
    assert loose.limit == 3
    assert 29_000 < await raw.pttl(floor_key(key)) <= 30_000  # lapses once strict is gone


async def test_cancelled_acquire_leaks_no_slot(make: MakeLimiter) -> None:
    limiter = make(1, 30.0)
    await limiter.acquire()
    for ticks in range(6):  # cancel at every stage: queued, mid-script, sleeping
        waiter = asyncio.ensure_future(limiter.acquire())
        for _ in range(ticks):
            await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await limiter.flush()
        assert await limiter.used() == 1
    assert "in_flight=1 " in repr(limiter)


async def test_fallback_when_redis_is_down_then_back(
    make: MakeLimiter, caplog: pytest.LogCaptureFixture
) -> None:
    binary = find_redis_server()
    assert binary is not None
    port = free_port()
    limiter = make(3, 30.0, url=f"redis://127.0.0.1:{port}/0", retry_interval=3600.0)
    caplog.set_level(logging.INFO, logger="billabex_async")

    for _ in range(3):  # nobody listens: the local window takes over
        await limiter.acquire()
    limiter.release()
    assert "redis=down" in repr(limiter)
    assert "local_in_flight=2 " in repr(limiter)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per outage, not per request
    assert "unreachable" in warnings[0].getMessage()
    assert f"127.0.0.1:{port}" in warnings[0].getMessage()

    with redis_server(binary, port):
        assert await limiter.ping()
        assert "redis=up" in repr(limiter)
        # What the fallback let through is now counted for everyone.
        assert await limiter.used() == 3
        assert await _wait_for_slot(limiter) > 0
    assert any("reachable again" in r.getMessage() for r in caplog.records)


async def test_raise_mode_fails_closed(make: MakeLimiter) -> None:
    url = closed_port_url().replace("redis://", "redis://:s3cret-pw@")
    limiter = make(3, 30.0, url=url, on_error="raise")
    for _ in range(2):  # every acquire asks Redis again, and fails
        with pytest.raises(RateLimiterUnavailableError) as caught:
            await limiter.acquire()
        assert isinstance(caught.value.__cause__, RedisConnectionError)
        assert "on_storage_error='raise'" in str(caught.value)
        assert "s3cret-pw" not in str(caught.value)
    assert "s3cret-pw" not in repr(limiter)
    assert "local_in_flight=0 " in repr(limiter)


async def test_client_raise_mode_sends_nothing() -> None:
    storage = closed_port_url()
    async with FakeBillabex(rate_limit=RateLimit(10, 30.0)) as fake:
        rate_limit = RateLimit(10, 30.0, storage=storage, on_storage_error="raise")
        async with BillabexClient(
            token=fake.token, base_url=fake.url, rate_limit=rate_limit
        ) as client:
            with pytest.raises(RateLimiterUnavailableError):
                await client.contacts.upsert(fake.account_id, full_name="Ada", language="en")
        assert fake.stats.requests == 0


def test_rate_limit_storage_error_setting() -> None:
    assert RateLimit(300, 60.0, storage="redis://h/0").on_storage_error == "fallback"
    with pytest.raises(ValueError, match="on_storage_error"):
        RateLimit(300, 60.0, storage="redis://h/0", on_storage_error="ignore")  # type: ignore[arg-type]


def test_missing_redis_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis now fails
    monkeypatch.delitem(sys.modules, "redis.asyncio")
    monkeypatch.delitem(sys.modules, "billabex_async._ratelimit.redis.limiter")
    monkeypatch.delitem(sys.modules, "billabex_async._ratelimit.redis.store")
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'billabex-async\[redis\]'"):
        BillabexClient(token=TOKEN, rate_limit=RateLimit(storage="redis://127.0.0.1:1/0"))


def test_importing_the_sdk_does_not_import_redis() -> None:
    code = "import sys, billabex_async; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


async def test_four_processes_share_one_window(redis_url: str) -> None:
    """THE PROOF: 4 worker processes, one token, 320 upserts: zero 429s, nothing lost.

    Five full windows at the limit (the first one's burst included): enough
    for every process to wait on slots the others hold. The long run is
    `make bench-redis`.
    """
    limit, window, workers, per_worker = 60, 1.0, 4, 80
    async with FakeBillabex(rate_limit=RateLimit(limit, window)) as fake:
        result = await spawn_workers(
            base_url=fake.url,
            token=fake.token,
            account_id=fake.account_id,
            storage=redis_url,
            limit=limit,
            window=window,
            workers=workers,
            per_worker=per_worker,
            concurrency=8,
        )
        stored = fake.contacts(fake.account_id)
        stats = fake.stats
        sent = sorted(r.time for r in fake.requests if r.status is not None and r.status < 300)

    assert result.failed == 0, result.errors
    assert result.succeeded == workers * per_worker
    assert stats.rate_limited == 0
    assert stats.max_in_window <= limit
    emails = sorted(c.email.address for c in stored if c.email is not None)
    expected = sorted(str(contact_for(n).email) for n in range(workers * per_worker))
    assert emails == expected  # 320 stored: none lost, none duplicated
    # Measured, not asserted (timing belongs to `make bench-redis`): sends per
    # second after the first window's burst, against the limit's rate.
    utilisation = (len(sent) - limit) / (sent[-1] - sent[0]) / (limit / window)
    print(  # shown with pytest -s
        f"\n4 processes via Redis: {stats.requests} requests, 429s={stats.rate_limited}, "
        f"max_in_window={stats.max_in_window}/{limit}, utilisation={utilisation:.2f}, "
        f"wall={result.wall:.1f}s"
    )


async def test_a_slot_that_expired_during_a_slow_flight_is_not_held(
    make: MakeLimiter, raw: aioredis.Redis, key: str
) -> None:
    limiter = make(2, 30.0)
    await limiter.acquire()  # X
    limiter.release()
    await limiter.flush()
    slow = await limiter.acquire()  # S: the server counts X and S at its arrival
    # S's answer is slow: X's slot expires meanwhile (its expiry, moved back).
    slots = keys_for(key)[0]
    [(x_member, _), _] = await _slots(raw, slots)
    await raw.zadd(slots, {x_member: await _redis_now_ms(raw) - 1.0})
    limiter.release()
    limiter.observe(limit=2, remaining=0, reset=time.time() + 30.0, sent=slow)
    await limiter.flush()
    assert await limiter.used() == 1  # S alone: X is not held as someone else's


async def test_without_a_ticket_redis_compares_as_of_now(
    make: MakeLimiter, raw: aioredis.Redis, key: str
) -> None:
    limiter = make(2, 30.0)
    await limiter.acquire()
    limiter.release()
    await limiter.flush()
    await limiter.acquire()
    slots = keys_for(key)[0]
    [(x_member, _), _] = await _slots(raw, slots)
    await raw.zadd(slots, {x_member: await _redis_now_ms(raw) - 1.0})
    limiter.release()
    limiter.observe(limit=2, remaining=0, reset=time.time() + 30.0)
    await limiter.flush()
    assert await limiter.used() == 2
