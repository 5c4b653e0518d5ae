"""bulk_upsert against FakeBillabex: laziness, failures, early stop, ordering, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from billabex_async import BillabexClient, ContactUpsert, RateLimit
from billabex_async.bulk import LOOKAHEAD, BulkReport, bulk_upsert_account, iter_upsert
from billabex_async.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from billabex_async.testing import FakeBillabex

from ._bulk_inputs import Counted, StalledContacts, person


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=3) as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeBillabex) -> AsyncIterator[BillabexClient]:
    async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
        yield client


def writes(fake: FakeBillabex) -> list[str]:
    return [r.method for r in fake.requests if r.method != "GET"]


async def test_upserts_every_item_and_reports_totals(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    progress: list[tuple[int, int | None]] = []
    items = [person(i) for i in range(30)]
    report = await client.contacts.bulk_upsert(
        fake.account_id, items, concurrency=4, on_progress=lambda d, t: progress.append((d, t))
    )
    assert (report.total, report.succeeded, report.failed) == (30, 30, [])
    assert report.ok
    assert report.resume_from == 30
    assert sorted(c.full_name for c in fake.contacts(fake.account_id)) == sorted(
        i.full_name for i in items
    )
    assert progress[-1] == (30, 30)
    assert [d for d, _ in progress] == list(range(1, 31))


async def test_async_iterable_input_and_unknown_total(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    async def source() -> AsyncIterator[ContactUpsert]:
        for i in range(12):
            yield person(i)

    totals: set[int | None] = set()
    report = await client.contacts.bulk_upsert(
        fake.account_id, source(), on_progress=lambda _, t: totals.add(t)
    )
    assert report.succeeded == 12
    assert totals == {None}
    assert len(fake.contacts(fake.account_id)) == 12


async def test_endless_input_is_read_lazily_and_stopping_settles_what_was_read(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    source, report, concurrency = Counted(), BulkReport(), 4
    stream = iter_upsert(
        client.contacts, fake.account_id, source, concurrency=concurrency, report=report
    )
    async with contextlib.aclosing(stream) as outcomes:
        async for _ in outcomes:
            assert source.pulled <= report.total + concurrency * LOOKAHEAD
            if report.succeeded >= 25:
                break
    assert report.cancelled
    assert source.pulled <= report.succeeded + concurrency * LOOKAHEAD
    # Every item read is accounted for, and the server holds exactly the successes.
    assert report.total == source.pulled
    assert report.total == report.succeeded + len(report.failed) + report.not_attempted
    assert report.failed == []
    assert len(fake.contacts(fake.account_id)) == report.succeeded


async def test_cancelling_the_task_keeps_a_consistent_report(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    source, report = Counted(), BulkReport()

    def stop_at_40(done: int, total: int | None) -> None:
        if done == 40:
            task.cancel()

    task = asyncio.create_task(
        client.contacts.bulk_upsert(
            fake.account_id, source, concurrency=8, on_progress=stop_at_40, report=report
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    assert report.cancelled
    assert report.error is None
    assert report.total == source.pulled
    assert report.not_attempted <= 8 * LOOKAHEAD  # read ahead, never sent
    assert report.total == report.succeeded + len(report.failed) + report.not_attempted
    # In-flight requests were let finish: nothing is left in an unknown state.
    assert report.failed == []
    assert 40 <= report.succeeded <= 40 + 8  # the cancel stops sending at once
    assert len(fake.contacts(fake.account_id)) == report.succeeded
    assert report.resume_from <= report.succeeded
    assert len(writes(fake)) == report.succeeded


@pytest.mark.parametrize("grace", [0.0, 30.0])
async def test_cancellation_lets_in_flight_finish_within_the_grace(grace: float) -> None:
    contacts, report = StalledContacts(in_flight=2), BulkReport()
    account = str(uuid.uuid4())
    task = asyncio.create_task(
        bulk_upsert_account(
            contacts, account, Counted(), concurrency=2, report=report, cancel_grace=grace
        )
    )
    await contacts.started.wait()
    task.cancel()
    if grace:
        # Let the engine reach its grace wait, then answer the requests in flight.
        await asyncio.sleep(0)
        contacts.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert report.cancelled
    assert report.total == report.not_attempted + 3  # the first answer, then two held
    if grace:
        assert report.succeeded == 3
        assert report.failed == []
    else:
        assert report.succeeded == 1
        assert [f.index for f in report.failed] == [1, 2]
        assert all(isinstance(f.error, OutcomeUnknownError) for f in report.failed)


async def test_a_second_cancellation_cuts_the_grace_short() -> None:
    contacts, report = StalledContacts(in_flight=8), BulkReport()
    task = asyncio.create_task(
        bulk_upsert_account(contacts, str(uuid.uuid4()), Counted(), report=report)
    )
    await contacts.started.wait()
    task.cancel()
    await asyncio.sleep(0)  # the first cancellation is delivered; the grace wait starts
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert report.cancelled
    assert report.succeeded == 1
    assert len(report.failed) == 8
    assert all(isinstance(f.error, OutcomeUnknownError) for f in report.failed)


async def test_item_failures_are_reported_with_their_index(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    items = [person(i) for i in range(6)]
    items[2] = ContactUpsert(full_name="Bad Language", language="EN")  # refused before sending
    fake.script(method="PUT", kind="status", status=422, times=1)  # the first PUT sent
    report = await client.contacts.bulk_upsert(fake.account_id, items, concurrency=1)
    assert report.total == 6
    assert report.succeeded == 4
    assert report.error is None
    by_index = {f.index: f for f in report.failed}
    assert set(by_index) == {0, 2}
    assert isinstance(by_index[0].error, UnprocessableEntityError)
    assert isinstance(by_index[2].error, InvalidRequestError)
    assert by_index[2].item is items[2]
    assert by_index[2].account_id == fake.account_id


async def test_a_read_only_record_fails_alone(fake: FakeBillabex, client: BillabexClient) -> None:
    locked = fake.add_contact(
        fake.account_id, full_name=person(3).full_name, email="p3@example.com"
    )
    fake.set_read_only(fake.account_id, locked.id)
    report = await client.contacts.bulk_upsert(fake.account_id, [person(i) for i in range(8)])
    assert report.error is None
    assert report.succeeded == 7
    assert [(f.index, type(f.error)) for f in report.failed] == [(3, PermissionDeniedError)]


@pytest.mark.parametrize("refusal", ["revoked", "read_scope", "unknown_account"])
async def test_errors_that_fail_every_item_stop_the_run(fake: FakeBillabex, refusal: str) -> None:
    token, account = fake.token, fake.account_id
    if refusal == "revoked":
        fake.revoke_token(token)
    elif refusal == "read_scope":
        token = fake.issue_token(["accounts:read"])
    else:
        account = str(uuid.uuid4())
    expected = {
        "revoked": AuthenticationError,
        "read_scope": PermissionDeniedError,
        "unknown_account": NotFoundError,
    }[refusal]
    source = Counted()
    async with BillabexClient(token=token, base_url=fake.url, rate_limit=None) as client:
        report = await client.contacts.bulk_upsert(account, source, concurrency=4)
    assert isinstance(report.error, expected)
    assert not report.complete
    assert not report.cancelled
    assert report.succeeded == 0
    assert len(report.failed) == 1  # the account's first request goes alone
    assert report.not_attempted == report.total - len(report.failed)
    assert source.pulled == report.total <= 4 * LOOKAHEAD
    assert fake.stats.requests == 1  # nothing sent after the stop


async def test_same_email_items_apply_in_input_order() -> None:
    # Latency and jitter make concurrent requests overlap and finish out of order.
    async with FakeBillabex(rate_limit=None, latency=0.002, jitter=0.01, seed=5) as fake:
        items = []
        for i in range(24):
            email = ("ada@example.com", "ADA@Example.com", "bob@example.com")[i % 3]
            name = "Ada Lovelace" if i % 3 < 2 else "Bob Marley"
            items.append(
                ContactUpsert(full_name=name, language=f"{'abcdefgh'[i % 8]}x", email=email)
            )
        items += [person(i) for i in range(24)]
        async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
            report = await client.contacts.bulk_upsert(fake.account_id, items, concurrency=8)
        assert report.ok
        assert state(fake) == await sequential_result(items)
        stored = {c.full_name: c for c in fake.contacts(fake.account_id)}
        assert len(stored) == 2 + 24
        assert stored["Ada Lovelace"].language == items[22].language  # the last Ada item
        assert stored["Ada Lovelace"].email is not None
        assert stored["Ada Lovelace"].email.address == "ADA@Example.com"
        assert stored["Bob Marley"].language == items[23].language
        # Requests for one person were never in flight together, so the log
        # (in completion order, despite the jitter) lists them in input order.
        sent = [r.body for r in fake.requests if isinstance(r.body, dict)]
        ada = [b["language"] for b in sent if b["fullName"] == "Ada Lovelace"]
        assert ada == [i.language for i in items if i.full_name == "Ada Lovelace"]


async def sequential_result(items: list[ContactUpsert]) -> set[tuple[str, str, str | None]]:
    """What a plain one-at-a-time loop leaves on a fresh simulator."""
    async with (
        FakeBillabex(rate_limit=None) as fake,
        BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client,
    ):
        for item in items:
            await client.contacts.upsert(fake.account_id, item)
        return state(fake)


def state(fake: FakeBillabex) -> set[tuple[str, str, str | None]]:
    return {
        (c.full_name, c.language, c.email.address if c.email else None)
        for c in fake.contacts(fake.account_id)
    }


async def test_fuzzy_names_are_serialised_like_a_sequential_loop() -> None:
    names = ["John Smith", "Jon Smith", "john smith", "John Smyth", "Jonh Smith", "Jonh Smit"]
    items = [ContactUpsert(full_name=n, language="en") for n in names]
    # An item with an email whose name matches conflicts with them too.
    items.insert(2, ContactUpsert(full_name="John Smith", language="fr", email="js@x.org"))
    items += [person(i) for i in range(10)]
    async with FakeBillabex(rate_limit=None, latency=0.002, jitter=0.01, seed=9) as fake:
        async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
            report = await client.contacts.bulk_upsert(fake.account_id, items, concurrency=8)
        assert report.ok
        assert state(fake) == await sequential_result(items)
        assert len(state(fake)) == 2 + 10


async def test_pairs_over_many_accounts_stop_only_the_refused_account(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    other, missing = fake.create_account(), str(uuid.uuid4())
    accounts = [fake.account_id, other, missing]
    pairs = [(accounts[i % 3], person(i)) for i in range(30)]
    report = await client.bulk_upsert(pairs, concurrency=4)
    assert report.error is None
    assert set(report.stopped_accounts) == {missing}
    assert isinstance(report.stopped_accounts[missing], NotFoundError)
    assert report.succeeded == 20
    assert report.not_attempted == 9
    assert [f.account_id for f in report.failed] == [missing]
    assert len(fake.contacts(fake.account_id)) == len(fake.contacts(other)) == 10


async def test_pairs_share_the_rate_limit_and_conflicts_are_per_account(
    fake: FakeBillabex,
) -> None:
    other = fake.create_account()
    same = ContactUpsert(full_name="Grace Hopper", language="en", email="grace@navy.mil")
    pairs = [(fake.account_id, same), (other, same)] * 3
    async with BillabexClient(
        token=fake.token, base_url=fake.url, rate_limit=RateLimit(50, 1.0)
    ) as client:
        report = await client.bulk_upsert(pairs)
    assert report.ok
    assert report.succeeded == 6
    assert len(fake.contacts(fake.account_id)) == len(fake.contacts(other)) == 1
    assert fake.stats.rate_limited == 0


async def test_a_failing_source_stops_the_run_and_propagates(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    def source() -> Iterator[ContactUpsert]:
        yield from (person(i) for i in range(5))
        raise RuntimeError("CRM export broke")

    report = BulkReport()
    with pytest.raises(RuntimeError, match="CRM export broke"):
        await client.contacts.bulk_upsert(fake.account_id, source(), report=report)
    assert report.total == 5 == report.succeeded + report.not_attempted + len(report.failed)


async def test_concurrency_must_be_positive(fake: FakeBillabex, client: BillabexClient) -> None:
    with pytest.raises(InvalidRequestError):
        await client.contacts.bulk_upsert(fake.account_id, [], concurrency=0)


async def test_cancelling_with_an_async_source_accounts_for_every_item_read(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    pulled = 0

    async def source() -> AsyncIterator[ContactUpsert]:
        nonlocal pulled
        for i in itertools.count():
            await asyncio.sleep(0)  # a CRM page fetch
            pulled += 1
            yield person(i)

    report = BulkReport()

    def stop_at_20(done: int, total: int | None) -> None:
        if done == 20:
            task.cancel()

    task = asyncio.create_task(
        client.contacts.bulk_upsert(
            fake.account_id, source(), concurrency=4, on_progress=stop_at_20, report=report
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    assert report.total == pulled  # a read in progress was cancelled, not lost
    assert report.not_attempted <= 4 * LOOKAHEAD
    assert report.total == report.succeeded + report.not_attempted
    assert len(fake.contacts(fake.account_id)) == report.succeeded
