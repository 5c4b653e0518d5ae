"""Type-checked only (mypy --strict runs over tests/; pytest does not collect it).

Proves the public types users rely on: if a signature in the API contract
changes shape, mypy fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import assert_type
from uuid import UUID

from billabex_async import (
    UNSET,
    BillabexClient,
    BulkReport,
    Clock,
    Contact,
    ContactCreate,
    ContactPage,
    ContactsResource,
    ContactUpdate,
    ContactUpsert,
    RateLimit,
    SyncResult,
    Unset,
    errors,
)
from billabex_async.testing import FakeBillabex, VirtualClock


async def contract(client: BillabexClient, account: str, contact: UUID) -> None:
    page = await client.contacts.list(account, first=100, after=None)
    assert_type(page, ContactPage)
    assert_type(page.nodes, list[Contact])
    assert_type(client.contacts.iterate(account, page_size=100), AsyncIterator[Contact])
    created = await client.contacts.create(
        account, full_name="John Smith", language="en", email="john@acme.com"
    )
    assert_type(created.id, UUID)
    assert_type(await client.contacts.get(account, contact), Contact)
    assert_type(await client.contacts.update(account, contact, full_name="J"), Contact)
    assert_type(await client.contacts.delete(account, contact), None)
    upserted = await client.contacts.upsert(account, full_name="A", language="en", email=None)
    assert_type(upserted.full_name, str)
    items = [ContactUpsert(full_name="A", language="en")]
    report = await client.contacts.bulk_upsert(account, items, concurrency=8, on_progress=None)
    assert_type(report, BulkReport)
    assert_type(report.total, int)
    assert_type(report.succeeded, int)
    report = await client.bulk_upsert([(account, items[0])], concurrency=8)
    keyed = await client.contacts.create(
        account, full_name="Ada", language="en", idempotency_key="k-1"
    )
    assert_type(keyed, Contact)
    await client.contacts.update(account, contact, notes="x", idempotency_key="k-2")
    await client.contacts.delete(account, contact, idempotency_key="k-3")
    await client.contacts.upsert(account, items[0], idempotency_key="k-4")
    resumed = await client.contacts.bulk_upsert(account, items, resume_from=report)
    assert_type(resumed.run_id, str)
    assert_type(resumed.key_for(0), str)
    assert_type(resumed.skipped, int)
    for failure in resumed.failed:
        assert_type(failure.idempotency_key, str | None)
        assert_type(failure.body, str)
    await client.bulk_upsert([(account, items[0])], resume_from=report)
    result = await client.contacts.sync(account, items, delete_missing=False, dry_run=False)
    assert_type(result, SyncResult)
    assert_type(result.created + result.updated + result.unchanged + result.deleted, int)
    result = await client.contacts.sync(account, items, delete_missing=True, max_deletes=90)
    assert_type(result.kept + result.deletes_skipped, int)


def idempotent_switch() -> None:
    BillabexClient("token", idempotent_creates=False)
    FakeBillabex(idempotency_window=3600.0)
    FakeBillabex(idempotency_window=None)


def models() -> None:
    update = ContactUpdate(email=None)
    assert_type(update.full_name, str | Unset)
    assert_type(update.email, str | Unset | None)
    assert update.role is UNSET
    ContactCreate(full_name="A", language="en", email=None, role="CFO", is_primary=True)
    RateLimit(300, 60.0)
    RateLimit(300, 60.0, storage="redis://localhost:6379/0")


def error_tree(exc: errors.BillabexError) -> None:
    if isinstance(exc, errors.APIStatusError):
        assert_type(exc.status, int)
        assert_type(exc.request_id, str | None)
    if isinstance(exc, errors.RateLimitError):
        assert_type(exc.retry_after, float | None)
    if isinstance(exc, errors.UnexpectedRedirectError):
        assert_type(exc.location_host, str | None)
    if isinstance(exc, errors.ResponseTooLargeError):
        assert_type(exc.limit, int)
    also_runtime_errors: list[RuntimeError] = [
        errors.ClientClosedError("closed"),
        errors.WrongEventLoopError("elsewhere"),
        errors.PaginationError("cycle"),
    ]
    assert also_runtime_errors
    BillabexClient("token", max_response_bytes=8 * 1024 * 1024)
    if isinstance(exc, errors.OutcomeUnknownError):
        assert_type(exc.idempotency_key, str | None)
        assert_type(exc.body, str | None)


async def simulator() -> None:
    async with FakeBillabex(rate_limit=RateLimit(300, 60.0)) as fake:
        assert_type(fake.url, str)
        assert_type(fake.token, str)
        assert_type(fake.account_id, str)
        async with BillabexClient(token=fake.token, base_url=fake.url, session=None) as client:
            await client.contacts.list(fake.account_id)


async def virtual_time() -> None:
    clock = VirtualClock()
    seam: Clock = clock  # the public Clock protocol
    assert_type(seam.time(), float)
    client = BillabexClient(token="t", base_url="http://127.0.0.1:1", clock=clock)
    assert_type(client.contacts, ContactsResource)
    assert_type(client.rate_limit, RateLimit | None)
    assert_type(client.max_retries, int)
    async with FakeBillabex(clock=clock) as fake:
        assert_type(fake.url, str)


async def many_tenants() -> None:
    from billabex_async import ClientPool, PoolStats, SharedSession
    from billabex_async.auth import AsyncTokenStore, OAuthTokenProvider, RedisTokenStore

    async def credentials(tenant: str) -> str:
        return f"token-of-{tenant}"

    async with ClientPool(credentials, idle_timeout=60.0, base_url="http://127.0.0.1:1") as pool:
        async with pool.client("tenant-a") as client:
            assert_type(client, BillabexClient)
        assert_type(pool.stats, PoolStats)
        assert_type(pool.shared_session, SharedSession)
    store: AsyncTokenStore = RedisTokenStore(object(), key="k")  # type: ignore[arg-type]
    assert_type(await OAuthTokenProvider.from_async_store(store), OAuthTokenProvider)
