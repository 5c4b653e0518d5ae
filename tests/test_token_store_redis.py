"""RedisTokenStore: tokens many processes share, refreshed once per expiry, rotation races survived.

Against a real redis-server and the simulator's OAuth server, whose refresh
tokens rotate on every use (each works once).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

pytest.importorskip("redis", reason="redis-py missing: pip install 'billabex-async[redis]'")

from redis import asyncio as aioredis

from billabex_async import BillabexClient
from billabex_async.auth import (
    AsyncTokenStore,
    Credentials,
    InvalidGrantError,
    OAuthTokenProvider,
    RedisTokenStore,
)
from billabex_async.errors import AuthRefreshError
from billabex_async.testing import FakeBillabex

from ._login import sign_in
from ._redis import closed_port_url, redis_url_or_skip
from ._rotation import rotate, token_calls

WORKER = Path(__file__).with_name("_token_store_worker.py")
TTL = 100.0  # seconds an access token lives, on the simulator's clock


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    yield from redis_url_or_skip()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def key() -> str:
    return f"billabex:tokens:{uuid.uuid4()}"


@attrs.define
class Offset:
    """Seconds the simulator's clock is ahead of the wall clock; the test moves it."""

    seconds: float = 0.0

    def server(self) -> float:
        return self.seconds

    def unix(self) -> float:
        return time.time() + self.seconds


# -- the store itself ------------------------------------------------------------------


async def test_the_store_round_trips_and_names_no_secret(redis: aioredis.Redis, key: str) -> None:
    store = RedisTokenStore(redis, key=key)
    assert isinstance(store, AsyncTokenStore)
    assert await store.load() is None
    creds = _creds()
    await store.save(creds)
    assert await store.load() == creds
    assert "secret" not in repr(store)
    await store.clear()
    assert await store.load() is None
    await redis.set(key, "{not json")
    with pytest.raises(AuthRefreshError, match="not a JSON object"):
        await store.load()


async def test_an_unreachable_redis_is_a_typed_error() -> None:
    redis = aioredis.Redis.from_url(closed_port_url())
    try:
        store = RedisTokenStore(redis, key="k")
        with pytest.raises(AuthRefreshError, match="could not read") as caught:
            await store.load()
        assert caught.value.__cause__ is not None
        with pytest.raises(AuthRefreshError, match="could not lock"):
            async with store.refresh_lock():
                pass
    finally:
        await redis.aclose()


async def test_a_held_lock_makes_others_wait_then_give_up(redis: aioredis.Redis, key: str) -> None:
    holder = RedisTokenStore(redis, key=key)
    waiter = RedisTokenStore(redis, key=key, lock_wait=0.3)
    async with holder.refresh_lock():
        with pytest.raises(AuthRefreshError, match="held the refresh lock"):
            async with waiter.refresh_lock():
                pass
    async with waiter.refresh_lock():  # released: free again
        pass


def test_bad_store_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        RedisTokenStore(object(), key="")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lock_timeout"):
        RedisTokenStore(object(), key="k", lock_timeout=0)  # type: ignore[arg-type]


async def test_tenants_of_one_oauth_client_get_separate_rate_limit_keys(
    redis: aioredis.Redis,
) -> None:
    creds = _creds()
    stores = [RedisTokenStore(redis, key=f"billabex:tokens:{t}:{uuid.uuid4()}") for t in "ab"]
    for store in stores:
        await store.save(creds)
    a, b = [await OAuthTokenProvider.from_async_store(store) for store in stores]
    assert a.rate_limit_key != b.rate_limit_key
    again = await OAuthTokenProvider.from_async_store(stores[0])
    assert again.rate_limit_key == a.rate_limit_key  # every process on one store: one window


async def test_from_async_store_without_credentials_says_so(
    redis: aioredis.Redis, key: str
) -> None:
    with pytest.raises(AuthRefreshError, match="no credentials"):
        await OAuthTokenProvider.from_async_store(RedisTokenStore(redis, key=key))


# -- one process, several providers: the lock, the re-read -------------------------------


async def test_providers_on_one_store_refresh_once_per_expiry(
    redis: aioredis.Redis, key: str
) -> None:
    offset = Offset()
    async with FakeBillabex(rate_limit=None, clock=offset.server, access_token_ttl=TTL) as fake:
        await RedisTokenStore(redis, key=key).save(await sign_in(fake))
        # Four providers as four processes would hold them: each its own memory.
        providers = [
            await OAuthTokenProvider.from_async_store(
                RedisTokenStore(redis, key=key), clock=offset.unix
            )
            for _ in range(4)
        ]
        for expiry in range(1, 4):
            offset.seconds += TTL
            tokens = await asyncio.gather(*(p.get_token() for p in providers))
            assert len(set(tokens)) == 1
            assert fake.oauth.refreshes == expiry
        assert sum(p.refreshes for p in providers) == 3
        # The lock kept the others waiting: no refresh token was ever sent twice.
        assert token_calls(fake) == [200] * 4  # the login's code exchange, then 3 refreshes


async def test_a_lost_rotation_race_continues_with_the_winners_tokens(
    redis: aioredis.Redis, key: str
) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        await RedisTokenStore(redis, key=key).save(await sign_in(fake))
        # The other process does not wait for the lock (its lease ran out):
        # it rotates right after our read and stores what it got.
        store = RotatesAfterFirstRead(RedisTokenStore(redis, key=key), fake)
        creds = await store.inner.load()
        assert creds is not None
        provider = OAuthTokenProvider(creds, store=store)
        token = await provider.refresh(creds.tokens.access_token)  # after a 401
        winner = await store.inner.load()
        assert winner is not None
        assert token == winner.tokens.access_token
        assert provider.credentials == winner
        assert provider.refreshes == 0  # ours was refused; the winner's was taken
        assert fake.oauth.refreshes == 1
        async with BillabexClient(provider, base_url=fake.url, rate_limit=None) as client:
            await client.contacts.list(fake.account_id)


async def test_a_spent_token_with_nothing_newer_stored_fails(
    redis: aioredis.Redis, key: str
) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        creds = await sign_in(fake)
        store = RedisTokenStore(redis, key=key)
        await store.save(creds)
        provider = await OAuthTokenProvider.from_async_store(store)
        # Spent elsewhere by a process that died before saving.
        await rotate(fake, creds)
        with pytest.raises(InvalidGrantError):
            await provider.refresh(creds.tokens.access_token)


async def test_no_refresh_while_the_store_is_down(redis_url: str) -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        creds = await sign_in(fake)
        redis = aioredis.Redis.from_url(closed_port_url())
        try:
            provider = OAuthTokenProvider(creds, store=RedisTokenStore(redis, key="k"))
            with pytest.raises(AuthRefreshError, match="could not lock"):
                await provider.refresh(creds.tokens.access_token)
        finally:
            await redis.aclose()
        assert fake.oauth.refreshes == 0  # nothing spent that others could not learn of


# -- two processes ------------------------------------------------------------------------


@attrs.define
class Worker:
    process: asyncio.subprocess.Process

    async def run(self, offset: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"go {offset}\n".encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        assert line, "the worker died"
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.write(b"quit\n")
            await self.process.stdin.drain()
        await self.process.wait()


async def test_two_processes_sharing_a_rotating_refresh_token_both_keep_working(
    redis_url: str, redis: aioredis.Redis, key: str
) -> None:
    offset = Offset()
    async with FakeBillabex(rate_limit=None, clock=offset.server, access_token_ttl=TTL) as fake:
        await RedisTokenStore(redis, key=key).save(await sign_in(fake))
        job = {
            "redis_url": redis_url,
            "key": key,
            "base_url": fake.url,
            "account_id": fake.account_id,
            "requests": 12,
            "concurrency": 4,
        }
        workers = [
            Worker(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(WORKER),
                    json.dumps(job),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
            for _ in range(2)
        ]
        try:
            # Each round starts past the expiry of every token issued so far;
            # some rounds only one process works, so the other falls behind.
            rounds = [(0, 1), (0,), (0, 1), (1,), (0, 1)]
            made = [0, 0]  # refreshes each process made, as it last reported
            for expiry, who in enumerate(rounds, start=1):
                offset.seconds += TTL + 1.0
                got = await asyncio.gather(*(workers[w].run(offset.seconds) for w in who))
                for w, answer in zip(who, got, strict=True):
                    assert answer["errors"] == []
                    assert answer["ok"] == job["requests"]
                    made[w] = answer["refreshes"]
                assert fake.oauth.refreshes == expiry  # exactly one refresh per expiry
        finally:
            for worker in workers:
                await worker.stop()
        assert [w.process.returncode for w in workers] == [0, 0]
    # Eight turns of work, five refreshes: in three turns a process waited
    # for the other's refresh and read its tokens from Redis.
    assert sum(made) == len(rounds)
    assert all(made)  # each process won some races and lost others
    assert 401 not in {r.status for r in fake.requests}  # refreshed ahead of expiry
    assert token_calls(fake) == [200] * (1 + len(rounds))  # no refresh token spent twice
    stored = await RedisTokenStore(redis, key=key).load()
    assert stored is not None
    assert stored.tokens.refresh_token in fake.oauth.refresh_tokens  # the live one is stored


# -- helpers ----------------------------------------------------------------------------


def _creds() -> Credentials:
    from billabex_async.auth import TokenSet

    return Credentials(
        base_url="http://127.0.0.1:9",
        client_id="c",
        client_secret="cs-secret",
        tokens=TokenSet("a-0", "r-0", expires_at=time.time() + 3600, issued_at=time.time()),
    )


@attrs.define
class RotatesAfterFirstRead:
    """A store whose first read is followed at once by another process's rotation and save."""

    inner: RedisTokenStore
    fake: FakeBillabex
    reads: int = 0

    async def load(self) -> Credentials | None:
        stored = await self.inner.load()
        self.reads += 1
        if self.reads == 1 and stored is not None:
            await self.inner.save(await rotate(self.fake, stored))
        return stored

    async def save(self, credentials: Credentials) -> None:
        await self.inner.save(credentials)

    async def clear(self) -> None:
        await self.inner.clear()

    def refresh_lock(self) -> Any:
        return self.inner.refresh_lock()
