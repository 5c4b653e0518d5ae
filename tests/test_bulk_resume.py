"""Resuming a bulk run from its report: every item re-sent carries the key it had,
so a killed run finished later applies nothing twice (fault-free and with writes
applied then lost)."""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
from typing import Any

import attrs
import pytest

from billabex_async import BillabexClient, ContactUpsert, errors
from billabex_async.bulk import BulkReport, bulk_upsert_account
from billabex_async.resources.contacts import write_body
from billabex_async.testing import FakeBillabex, Faults, RequestRecord

from ._bulk_inputs import Counted, StalledContacts, person
from ._scripted import Sleeps

ITEMS = 60


def client_for(fake: FakeBillabex, **kwargs: Any) -> BillabexClient:
    kwargs.setdefault("max_retries", 8)
    client = BillabexClient(fake.token, base_url=fake.url, rate_limit=None, **kwargs)
    client._transport._sleep = Sleeps()  # backoff on virtual time
    return client


def puts(fake: FakeBillabex) -> list[RequestRecord]:
    return [r for r in fake.requests if r.method == "PUT"]


def applied_per_key(fake: FakeBillabex) -> collections.Counter[str | None]:
    """How many times the server applied each key's upsert (replays apply nothing)."""
    return collections.Counter(
        r.idempotency_key
        for r in puts(fake)
        if not r.replayed and r.fault != "status" and r.fault != "reset_before"
    )


def saved(report: BulkReport) -> BulkReport:
    """What a job persists as it goes: a snapshot, which the server's state outruns."""
    return attrs.evolve(report, failed=list(report.failed))


async def killed_run(
    fake: FakeBillabex, items: list[ContactUpsert], *, save_at: int, kill_at: int
) -> BulkReport:
    """Run until ``kill_at`` items settled, then cancel; return the copy saved at ``save_at``."""
    report = BulkReport()
    snapshot: list[BulkReport] = []
    task: asyncio.Task[BulkReport] | None = None

    def progress(done: int, total: int | None) -> None:
        if done == save_at:
            snapshot.append(saved(report))
        if done == kill_at and task is not None:
            task.cancel()

    async with client_for(fake) as client:
        task = asyncio.create_task(
            client.contacts.bulk_upsert(
                fake.account_id, items, concurrency=4, on_progress=progress, report=report
            )
        )
        with pytest.raises(asyncio.CancelledError):
            await task
    assert report.cancelled
    assert report.succeeded >= kill_at > save_at
    [copy] = snapshot
    return copy


@pytest.mark.parametrize("faults", [None, Faults(reset_after_rate=0.2)], ids=["clean", "resets"])
async def test_a_killed_run_resumed_from_its_saved_report_applies_nothing_twice(
    faults: Faults | None,
) -> None:
    items = [person(i) for i in range(ITEMS)]
    async with FakeBillabex(rate_limit=None, faults=faults, seed=21) as fake:
        stale = await killed_run(fake, items, save_at=15, kill_at=35)
        sent_before = {r.idempotency_key for r in puts(fake)}
        async with client_for(fake) as client:
            report = await client.contacts.bulk_upsert(
                fake.account_id, items, concurrency=4, resume_from=stale
            )
        stored = fake.contacts(fake.account_id)
        resent = [r for r in puts(fake) if r.idempotency_key in sent_before]
        applied = applied_per_key(fake)
    assert report.ok
    assert (report.total, report.succeeded) == (ITEMS, ITEMS)
    assert report.run_id == stale.run_id
    assert report.skipped == stale.resume_from - len(stale.failed) > 0
    # Nothing twice: one contact per item, and each item's upsert applied once.
    assert sorted(c.email.address for c in stored if c.email) == sorted(
        f"p{i}@example.com" for i in range(ITEMS)
    )
    assert set(applied) == {stale.key_for(i) for i in range(ITEMS)}
    assert set(applied.values()) == {1}
    # The items the stale report did not know were done went again, and the
    # server answered them from their keys instead of applying them again.
    assert any(r.replayed for r in resent)


async def test_failed_items_carry_key_and_body_and_are_resent_with_that_key() -> None:
    items = [person(i) for i in range(10)]
    async with FakeBillabex(rate_limit=None, seed=4) as fake:
        # Applied, then a gateway error: the outcome is unknown to the client.
        fake.script(method="PUT", kind="status_after", status=502, times=3)
        async with client_for(fake, max_retries=0) as client:
            first = await client.contacts.bulk_upsert(fake.account_id, items, concurrency=1)
            lost = {r.idempotency_key: r for r in puts(fake) if r.fault == "status_after"}
            failures = first.failed
            second = await client.contacts.bulk_upsert(
                fake.account_id, items, concurrency=1, resume_from=first
            )
        resent = puts(fake)[len(items) :]
        applied = applied_per_key(fake)
    assert [f.index for f in failures] == [0, 1, 2]
    for failure in failures:
        assert isinstance(failure.error, errors.InternalServerError)
        assert failure.idempotency_key == first.key_for(failure.index)
        record = lost[failure.idempotency_key]
        assert json.loads(failure.body) == record.body  # what was sent
    assert second.ok
    assert (second.succeeded, second.skipped) == (10, 7)
    assert [(r.idempotency_key, r.replayed) for r in resent] == [
        (f.idempotency_key, True) for f in failures
    ]
    assert set(applied.values()) == {1}


async def test_outcome_unknown_from_a_cut_off_item_carries_its_key_and_body() -> None:
    contacts, report = StalledContacts(in_flight=2), BulkReport()
    task = asyncio.create_task(
        bulk_upsert_account(
            contacts, str(uuid.uuid4()), Counted(), concurrency=2, report=report, cancel_grace=0
        )
    )
    await contacts.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [f.index for f in report.failed] == [1, 2]
    for failure in report.failed:
        assert isinstance(failure.error, errors.OutcomeUnknownError)
        assert failure.error.idempotency_key == failure.idempotency_key
        assert failure.idempotency_key == report.key_for(failure.index)
        assert failure.error.body == failure.body == write_body(person(failure.index))


async def test_keys_are_derived_from_the_run_id_and_the_index() -> None:
    items = [person(i) for i in range(5)]
    async with FakeBillabex(rate_limit=None) as fake:
        async with client_for(fake) as client:
            report = BulkReport(run_id="nightly-2026-12-01")
            outcomes = [
                o
                async for o in client.contacts.bulk_upsert_iter(
                    fake.account_id, items, report=report
                )
            ]
        sent = sorted(r.idempotency_key or "" for r in puts(fake))
    assert sent == [f"nightly-2026-12-01-{i}" for i in range(5)]
    assert sorted(o.idempotency_key or "" for o in outcomes) == sent


async def test_resuming_pairs_across_accounts() -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        other = fake.create_account()
        pairs = [(fake.account_id if i % 2 else other, person(i)) for i in range(8)]
        fake.script(method="PUT", kind="status_after", status=504, times=2)
        async with client_for(fake, max_retries=0) as client:
            first = await client.bulk_upsert(pairs, concurrency=1)
            second = await client.bulk_upsert(pairs, concurrency=1, resume_from=first)
        applied = applied_per_key(fake)
    assert len(first.failed) == 2
    assert second.ok
    assert second.skipped == 6
    assert set(applied.values()) == {1}
    assert len(applied) == 8


async def test_a_resumed_item_that_changed_is_refused_not_applied() -> None:
    items = [person(i) for i in range(3)]
    async with FakeBillabex(rate_limit=None) as fake:
        fake.script(method="PUT", kind="status_after", status=502)
        async with client_for(fake, max_retries=0) as client:
            first = await client.contacts.bulk_upsert(fake.account_id, items, concurrency=1)
            changed = [attrs.evolve(items[0], role="CFO"), *items[1:]]
            second = await client.contacts.bulk_upsert(
                fake.account_id, changed, concurrency=1, resume_from=first
            )
        [stored] = [c for c in fake.contacts(fake.account_id) if c.full_name == items[0].full_name]
    [failure] = second.failed
    assert isinstance(failure.error, errors.ConflictError)
    assert failure.error.code == "app-core.idempotency.key-reused"
    assert stored.role is None


async def test_resuming_needs_a_fresh_report() -> None:
    async with FakeBillabex(rate_limit=None) as fake, client_for(fake) as client:
        first = await client.contacts.bulk_upsert(fake.account_id, [person(0)])
        for report in (first, BulkReport(total=1)):
            with pytest.raises(errors.InvalidRequestError, match="fresh"):
                await client.contacts.bulk_upsert(
                    fake.account_id, [person(0)], report=report, resume_from=first
                )
        with pytest.raises(errors.InvalidRequestError, match="idempotency_key"):
            await client.contacts.bulk_upsert(
                fake.account_id, [person(0)], report=BulkReport(run_id="has space")
            )


async def test_a_sync_failure_carries_the_key_it_was_sent_with() -> None:
    async with FakeBillabex(rate_limit=None) as fake:
        fake.script(method="PUT", kind="status_after", status=502)
        async with client_for(fake, max_retries=0) as client:
            result = await client.contacts.sync(fake.account_id, [person(0), person(1)])
        [lost] = [r for r in puts(fake) if r.fault == "status_after"]
        keys = [r.idempotency_key for r in puts(fake)]
    [failure] = result.failed
    assert failure.idempotency_key == lost.idempotency_key
    assert json.loads(failure.body) == lost.body
    assert len(set(keys)) == 2  # one key per write
