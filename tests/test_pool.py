"""ClientPool: many tenants in one process on one connector, each with its own token and limit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from billabex_async import BillabexClient, ClientPool, RateLimit, SharedSession, TokenProvider
from billabex_async._ratelimit import Limiter, SlidingWindowLimiter
from billabex_async.errors import (
    AuthenticationError,
    ClientClosedError,
    InvalidRequestError,
    PoolClosedError,
)
from billabex_async.testing import FakeBillabex, VirtualClock

from ._scripted import contact_json, reply, reset
from .conftest import ScriptedServer

TENANTS = [f"tenant-{i}" for i in range(5)]
ACC = str(uuid.uuid4())


def acc(tenant: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, tenant))


@attrs.define
class Recorder:
    """A real server on 127.0.0.1 that records each request's token and socket."""

    server: TestServer
    seen: list[tuple[str, str, object]] = attrs.field(factory=list)  # (path, token, peer)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    @property
    def sockets(self) -> int:
        return len({peer for _, _, peer in self.seen})


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    holder: list[Recorder] = []

    async def handle(request: web.Request) -> web.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        holder[0].seen.append((request.path, token, peer))
        return web.json_response({"nodes": [], "pageInfo": {"endCursor": None}})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    holder.append(Recorder(server))
    try:
        yield holder[0]
    finally:
        await server.close()


def token_of(tenant: str) -> str:
    return f"tok-{tenant}-0123456789"


async def tokens(tenant: str) -> str:
    return token_of(tenant)


async def test_every_tenant_sends_its_own_token_through_one_socket(recorder: Recorder) -> None:
    async with ClientPool(tokens, base_url=recorder.url, rate_limit=None) as pool:
        for tenant in TENANTS:
            async with pool.client(tenant) as client:
                await client.contacts.list(acc(tenant))
        assert pool.stats.open == len(TENANTS)
    # One request per tenant, each with that tenant's token.
    assert {path.split("/")[-2]: token for path, token, _ in recorder.seen} == {
        acc(t): token_of(t) for t in TENANTS
    }
    # Sequential requests reuse the one kept-alive socket: one connector.
    assert recorder.sockets == 1


async def test_separate_clients_open_a_socket_each(recorder: Recorder) -> None:
    # The contrast the pool exists for: a client per tenant, a pool per client.
    for tenant in TENANTS[:3]:
        async with BillabexClient(
            token_of(tenant), base_url=recorder.url, rate_limit=None
        ) as client:
            await client.contacts.list(acc(tenant))
    assert recorder.sockets == 3


async def test_clients_share_the_connector_but_not_the_limiter(recorder: Recorder) -> None:
    pool = ClientPool(tokens, base_url=recorder.url)
    async with pool, pool.client("a") as a, pool.client("b") as b:
        await a.contacts.list(ACC)
        await b.contacts.list(ACC)
        assert a._transport.open() is b._transport.open()
        assert a._transport.open().connector is pool.shared_session.connector
        assert a.limiter is not None
        assert b.limiter is not None
        assert a.limiter is not b.limiter


async def test_concurrent_calls_for_one_tenant_build_one_client(recorder: Recorder) -> None:
    calls: list[str] = []
    gate = asyncio.Event()

    async def slow_tokens(tenant: str) -> str:
        calls.append(tenant)
        await gate.wait()  # every caller is waiting before the first client exists
        return token_of(tenant)

    async def use(pool: ClientPool) -> BillabexClient:
        async with pool.client("a") as client:
            await client.contacts.list(ACC)
            return client

    async with ClientPool(slow_tokens, base_url=recorder.url) as pool:
        users = [asyncio.ensure_future(use(pool)) for _ in range(10)]
        await asyncio.sleep(0)
        gate.set()
        clients = await asyncio.gather(*users)
        assert calls == ["a"]
        assert len({id(c) for c in clients}) == 1
        assert pool.stats.opened == 1
    assert len(recorder.seen) == 10


async def test_a_failed_opening_is_retried_by_the_next_call(recorder: Recorder) -> None:
    attempts = 0

    async def flaky(tenant: str) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise LookupError("vault unavailable")
        return token_of(tenant)

    async with ClientPool(flaky, base_url=recorder.url) as pool:
        with pytest.raises(LookupError):
            async with pool.client("a"):
                pass
        async with pool.client("a") as client:
            await client.contacts.list(ACC)
        assert pool.stats.opened == 1


async def test_idle_clients_close_and_reopen(recorder: Recorder) -> None:
    clock = VirtualClock(auto=False)
    async with ClientPool(tokens, base_url=recorder.url, idle_timeout=60.0, clock=clock) as pool:
        async with pool.client("a") as first:
            await first.contacts.list(ACC)
        async with pool.client("b"):
            clock.advance(59.0)  # "a" idle for 59 s, "b" in use
        await clock.settle()
        assert pool.stats.open == 2
        clock.advance(1.0)  # "a" idle for 60 s; "b" for 1 s
        await clock.settle()
        assert pool.stats == pool.stats.__class__(open=1, in_use=0, opened=2, closed=1)
        with pytest.raises(ClientClosedError):
            await first.contacts.list(ACC)
        async with pool.client("a") as again:
            assert again is not first
            await again.contacts.list(ACC)
        assert pool.stats.opened == 3
        clock.advance(60.0)
        await clock.settle()
        assert pool.stats.open == 0
        assert not pool.shared_session.closed  # closing clients never closes the shared one


async def test_a_client_in_use_is_not_closed_for_idleness(recorder: Recorder) -> None:
    clock = VirtualClock(auto=False)
    async with ClientPool(tokens, base_url=recorder.url, idle_timeout=1.0, clock=clock) as pool:
        async with pool.client("a") as client:
            clock.advance(10.0)
            await clock.settle()
            await client.contacts.list(ACC)
        assert pool.stats.open == 1


async def test_closing_the_pool_closes_everything(recorder: Recorder) -> None:
    pool = ClientPool(tokens, base_url=recorder.url)
    async with pool:
        async with pool.client("a") as client:
            await client.contacts.list(ACC)
        shared = pool.shared_session
    assert shared.closed
    assert shared.connector is None
    assert (pool.stats.open, pool.stats.closed) == (0, 1)
    with pytest.raises(PoolClosedError):
        pool.client("a")
    with pytest.raises(ClientClosedError):
        await client.contacts.list(ACC)
    await pool.aclose()  # idempotent


async def test_no_task_outlives_the_pool(recorder: Recorder) -> None:
    before = asyncio.all_tasks()
    async with ClientPool(tokens, base_url=recorder.url, idle_timeout=1.0) as pool:
        for tenant in TENANTS:
            async with pool.client(tenant) as client:
                await client.contacts.list(ACC)
    assert asyncio.all_tasks() == before


async def test_a_closed_client_leaves_the_shared_session_open(recorder: Recorder) -> None:
    async with SharedSession(max_connections=4) as shared:
        async with BillabexClient(token_of("a"), base_url=recorder.url, shared_session=shared) as a:
            await a.contacts.list(ACC)
        async with BillabexClient(token_of("b"), base_url=recorder.url, shared_session=shared) as b:
            await b.contacts.list(ACC)
        assert not shared.closed
    assert recorder.sockets == 1
    assert [token for _, token, _ in recorder.seen] == [token_of("a"), token_of("b")]


async def test_a_closed_shared_session_stops_its_clients(recorder: Recorder) -> None:
    shared = SharedSession()
    async with BillabexClient(token_of("a"), base_url=recorder.url, shared_session=shared) as a:
        await a.contacts.list(ACC)
        await shared.close()
        with pytest.raises(ClientClosedError, match="SharedSession"):
            await a.contacts.list(ACC)


async def test_bad_pool_settings_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="idle_timeout"):
        ClientPool(tokens, idle_timeout=0)
    with pytest.raises(InvalidRequestError, match="max_connections"):
        ClientPool(tokens, max_connections=0)
    with pytest.raises(InvalidRequestError, match="decided by the pool"):
        ClientPool(tokens, session=None)
    with pytest.raises(InvalidRequestError, match="unknown client option"):
        ClientPool(tokens, base_urll="http://127.0.0.1")
    pool = ClientPool(tokens)
    with pytest.raises(InvalidRequestError, match="tenant"):
        pool.client("")
    with pytest.raises(InvalidRequestError, match="not both"):
        BillabexClient("t" * 20, session=object(), shared_session=SharedSession())  # type: ignore[arg-type]


# -- against the simulator: its tokens, its per-token windows --------------------------


async def test_per_tenant_limits_are_separate_on_both_sides() -> None:
    clock = VirtualClock()
    limit = RateLimit(5, 60.0)
    async with FakeBillabex(rate_limit=limit, clock=clock) as fake:
        issued = {tenant: fake.issue_token() for tenant in TENANTS}

        async def credentials(tenant: str) -> str:
            return issued[tenant]

        async with ClientPool(
            credentials, base_url=fake.url, rate_limit=limit, clock=clock
        ) as pool:

            async def burst(tenant: str) -> None:
                async with pool.client(tenant) as client:
                    for _ in range(5):
                        await client.contacts.list(fake.account_id)

            await asyncio.gather(*(burst(t) for t in TENANTS))
            # 25 requests in no virtual time: five windows of five, not one of 25.
            assert clock.time() == 0.0
            assert fake.stats.rate_limited == 0
            assert fake.stats.max_in_window == 5
            # A sixth for one tenant waits for its own window; the others' are full too.
            async with pool.client(TENANTS[0]) as client:
                await client.contacts.list(fake.account_id)
            assert clock.time() >= 60.0
            assert fake.stats.rate_limited == 0


async def test_a_revoked_tenant_fails_alone() -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        issued = {tenant: fake.issue_token() for tenant in TENANTS[:3]}

        async def credentials(tenant: str) -> str:
            return issued[tenant]

        async with ClientPool(credentials, base_url=fake.url, rate_limit=None) as pool:
            fake.revoke_token(issued[TENANTS[1]])
            for tenant in TENANTS[:3]:
                async with pool.client(tenant) as client:
                    if tenant == TENANTS[1]:
                        with pytest.raises(AuthenticationError):
                            await client.contacts.list(fake.account_id)
                    else:
                        await client.contacts.list(fake.account_id)


async def test_a_provider_per_tenant_is_used_as_given() -> None:
    class Provider:
        def __init__(self, token: str) -> None:
            self.token = token
            self.rate_limit_key = f"key-{token}"

        async def get_token(self) -> str:
            return self.token

        async def refresh(self, rejected: str) -> str:
            raise AssertionError("not rejected")

    async with FakeBillabex(rate_limit=None) as fake:
        providers = {t: Provider(fake.issue_token()) for t in TENANTS[:2]}

        async def credentials(tenant: str) -> TokenProvider:
            return providers[tenant]

        async with ClientPool(credentials, base_url=fake.url) as pool:
            for tenant in TENANTS[:2]:
                async with pool.client(tenant) as client:
                    await client.contacts.create(fake.account_id, full_name=tenant, language="en")
        assert sorted(c.full_name for c in fake.contacts(fake.account_id)) == TENANTS[:2]


async def test_a_limiter_per_tenant_from_the_factory_is_used_then_closed(
    recorder: Recorder,
) -> None:
    made: dict[str, Counted] = {}

    class Counted(SlidingWindowLimiter):
        closed = 0

        async def aclose(self) -> None:
            self.closed += 1

    def limiter(tenant: str) -> Limiter:
        made[tenant] = Counted(3, 60.0)
        return made[tenant]

    async with ClientPool(tokens, limiter=limiter, base_url=recorder.url) as pool:
        async with pool.client("a") as a, pool.client("b") as b:
            assert (a.limiter, b.limiter) == (made["a"], made["b"])
            await a.contacts.list(ACC)
        assert made["a"].closed == 0
    assert made["a"].closed == made["b"].closed == 1


async def test_aiohttp_resends_are_counted_on_the_shared_session(scripted: ScriptedServer) -> None:
    # The shared session carries the SDK's middleware: a hidden resend after
    # a dropped connection takes a slot of the sending client's own limiter.
    scripted.script(reset, reply(200, contact_json()))
    pool = ClientPool(tokens, base_url=scripted.url, rate_limit=RateLimit(50, 60.0), max_retries=0)
    async with pool, pool.client("a") as a, pool.client("b") as b:
        await a.contacts.upsert(ACC, full_name="A", language="en")
        assert a.limiter is not None
        assert b.limiter is not None
        assert a.limiter.used() == 2  # type: ignore[attr-defined]
        assert b.limiter.used() == 0  # type: ignore[attr-defined]
    assert len(scripted.seen) == 2


def test_a_pool_never_closed_closes_its_connector_with_its_loop() -> None:
    async def main() -> ClientPool:
        async with FakeBillabex(rate_limit=None) as fake:

            async def credentials(tenant: str) -> str:
                return fake.token

            pool = ClientPool(credentials, base_url=fake.url, rate_limit=None)
            await pool.__aenter__()
            async with pool.client("a") as client:
                await client.contacts.list(fake.account_id)
            return pool  # never closed: asyncio.run's shutdown must do it

    pool = asyncio.run(main())
    assert pool.shared_session.closed
    assert pool.shared_session.connector is None


async def test_a_waiter_cancelled_while_opening_leaves_the_others_theirs(
    recorder: Recorder,
) -> None:
    gate = asyncio.Event()

    async def slow_tokens(tenant: str) -> str:
        await gate.wait()
        return token_of(tenant)

    async def use(pool: ClientPool) -> None:
        async with pool.client("a") as client:
            await client.contacts.list(ACC)

    async with ClientPool(slow_tokens, base_url=recorder.url) as pool:
        first, second = asyncio.ensure_future(use(pool)), asyncio.ensure_future(use(pool))
        await asyncio.sleep(0)
        first.cancel()
        gate.set()
        await second
        with pytest.raises(asyncio.CancelledError):
            await first
        assert pool.stats.opened == 1
    assert len(recorder.seen) == 1
