"""contacts.sync never destroys data: deletes last, only the unmatched, behind guards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from billabex_async import BillabexClient, ContactUpsert
from billabex_async.errors import InvalidRequestError, PermissionDeniedError, SyncRefusedError
from billabex_async.sync import (
    DEFAULT_MAX_DELETES,
    SyncResult,
    apply_plan,
    plan_sync,
    sync_contacts,
)
from billabex_async.testing import FakeBillabex, Matching
from tests._cli_run import billabex, write_csv
from tests._contacts_double import MemoryContacts, listed


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=12) as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeBillabex) -> AsyncIterator[BillabexClient]:
    async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
        yield client


def upsert(name: str, language: str = "en", email: str | None = None) -> ContactUpsert:
    return ContactUpsert(full_name=name, language=language, email=email)


def methods(fake: FakeBillabex) -> list[str]:
    return [r.method for r in fake.requests]


def names(fake: FakeBillabex) -> set[str]:
    return {c.full_name for c in fake.contacts(fake.account_id)}


def add(fake: FakeBillabex, *full_names: str) -> None:
    for name in full_names:
        fake.add_contact(fake.account_id, full_name=name)


# -- deletes only what is provably unmatched ---------------------------------------


@pytest.mark.parametrize(
    ("matching", "existing", "wanted"),
    [
        # lower() keeps "ß": 2 edits from "gross", too far; casefold() makes them equal.
        (Matching(fold="casefold"), ["Hans Groß"], "HANS GROSS"),
        # One edit from both: the prediction takes the oldest, this server the newest.
        (
            Matching(ties="newest"),
            ["Maria Garcia Lopez", "Maria Garcia Lopes"],
            "Maria Garcia Lopee",
        ),
    ],
    ids=["casefold", "newest-tie"],
)
async def test_a_contact_the_server_matched_is_kept_whatever_the_plan_predicted(
    fake: FakeBillabex,
    client: BillabexClient,
    matching: Matching,
    existing: list[str],
    wanted: str,
) -> None:
    fake.matching = matching
    add(fake, *existing, "Ada Lovelace", "Bob Marley")
    desired = [upsert(wanted), upsert("Ada Lovelace"), upsert("Bob Marley")]
    planned = await client.contacts.sync(
        fake.account_id, desired, delete_missing=True, dry_run=True
    )
    assert planned.deleted == 1  # the prediction: the server's match looks unmatched

    result = await client.contacts.sync(fake.account_id, desired, delete_missing=True)
    assert wanted in names(fake)
    assert result.kept == 1
    assert result.deleted == 0
    assert "DELETE" not in methods(fake)
    (kept,) = [c for c in result.changes if c.kind == "delete"]
    assert kept.status == "kept"
    assert result.ok


async def test_every_delete_starts_after_every_upsert_settled() -> None:
    contacts = MemoryContacts(listed("Gone One", "Gone Two", "Gone Three", *NAMES[:10]))
    desired = [upsert(name) for name in NAMES]  # 10 unchanged, 2 new
    desired += [upsert("Zed New One"), upsert("Yan New Two")]
    result = await sync_contacts(
        contacts, "acct", desired, delete_missing=True, concurrency=8, max_deletes=3
    )
    assert (result.created, result.deleted) == (2, 3)
    kinds = [kind for kind, _ in contacts.events]
    last_put = max(i for i, kind in enumerate(kinds) if kind == "put-end")
    first_delete = kinds.index("delete")
    assert last_put < first_delete


async def test_deletes_reach_the_server_after_the_slowest_upsert(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    add(fake, "Ada Lovelace", "Bob Marley", "Carl Sagan", "Dora Maar")
    # Both upserts answer late; the delete, unrelated to either, must still wait.
    fake.script(method="PUT", kind="delay", delay=0.05, times=2)
    desired = [upsert("Ada Lovelace", "fr"), upsert("Bob Marley", "fr"), upsert("Carl Sagan")]
    result = await client.contacts.sync(fake.account_id, desired, delete_missing=True)
    assert (result.updated, result.deleted) == (2, 1)
    # The log is in completion order: no DELETE may finish before a PUT.
    assert [m for m in methods(fake) if m != "GET"] == ["PUT", "PUT", "DELETE"]


NAMES = [
    f"{first} {last}"
    for first in ("Ann", "Bea", "Cyd", "Dov", "Eli")
    for last in ("Okafor", "Lindqvist")
]


# -- nothing deleted after a failed or unsent write ----------------------------------


async def test_a_failed_upsert_withholds_every_delete(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    add(fake, "Ada Lovelace", "Bob Marley", "Carl Sagan", "Dora Maar")
    fake.script(method="PUT", kind="status", status=422, times=1)
    desired = [upsert("Ada Lovelace", "fr"), upsert("Bob Marley", "fr")]
    result = await client.contacts.sync(fake.account_id, desired, delete_missing=True)
    assert len(result.failed) == 1
    assert "DELETE" not in methods(fake)
    assert names(fake) == {"Ada Lovelace", "Bob Marley", "Carl Sagan", "Dora Maar"}
    assert result.deleted == 0
    assert result.deletes_skipped == 2
    assert result.deletes_skipped_reason is not None
    assert "failed" in result.deletes_skipped_reason
    assert "delete_after_failures" in result.deletes_skipped_reason
    assert [c.status for c in result.changes if c.kind == "delete"] == ["withheld"] * 2
    assert not result.ok


async def test_delete_after_failures_lets_the_deletes_run_after_item_failures(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    add(fake, "Ada Lovelace", "Bob Marley", "Carl Sagan", "Dora Maar")
    fake.script(method="PUT", kind="status", status=422, times=1)
    desired = [upsert("Ada Lovelace", "fr"), upsert("Bob Marley", "fr")]
    result = await client.contacts.sync(
        fake.account_id, desired, delete_missing=True, delete_after_failures=True, concurrency=1
    )
    assert len(result.failed) == 1
    assert result.deleted == 2
    assert names(fake) == {"Ada Lovelace", "Bob Marley"}


async def test_an_early_stop_withholds_the_deletes_even_when_failures_are_allowed(
    fake: FakeBillabex,
) -> None:
    add(fake, "Ada Lovelace", "Bob Marley", "Carl Sagan")
    reader = fake.issue_token(["accounts:read"])
    async with BillabexClient(token=reader, base_url=fake.url, rate_limit=None) as client:
        result = await client.contacts.sync(
            fake.account_id,
            [upsert("Ada Lovelace", "fr"), upsert("Bob Marley")],
            delete_missing=True,
            delete_after_failures=True,
        )
    assert isinstance(result.error, PermissionDeniedError)
    assert "DELETE" not in methods(fake)
    assert result.deletes_skipped == 1
    assert result.deletes_skipped_reason is not None
    assert "stopped early" in result.deletes_skipped_reason


async def test_a_cancel_during_the_upserts_sends_no_delete() -> None:
    contacts = MemoryContacts(listed("Gone One", "Kept Two"), hold=True)
    desired = [upsert("Kept Two"), upsert("Nia New")]
    plan = await plan_sync(contacts, "acct", desired, delete_missing=True)
    result = SyncResult()
    task = asyncio.create_task(
        apply_plan(contacts, plan, result=result, cancel_grace=0.0, delete_after_failures=True)
    )
    await contacts.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert result.cancelled
    assert not [e for e in contacts.events if e[0] == "delete"]
    assert result.deletes_skipped == 1
    assert [c.status for c in result.changes if c.kind == "delete"] == ["withheld"]


# -- guards: empty input, too many deletes, an empty account --------------------------


def generator(items: Iterable[ContactUpsert]) -> Iterator[ContactUpsert]:
    yield from items


async def test_a_generator_reused_after_a_dry_run_is_refused_and_deletes_nothing(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    add(fake, "Ada Lovelace", "Bob Marley", "Carl Sagan")
    desired = generator([upsert("Ada Lovelace"), upsert("Bob Marley", "fr")])
    planned = await client.contacts.sync(
        fake.account_id, desired, delete_missing=True, dry_run=True
    )
    assert (planned.updated, planned.deleted, planned.refusals) == (1, 1, [])
    with pytest.raises(SyncRefusedError, match="no desired item") as caught:
        await client.contacts.sync(fake.account_id, desired, delete_missing=True)
    assert caught.value.guard == "empty_desired"
    assert set(methods(fake)) == {"GET"}
    assert len(names(fake)) == 3


async def _no_items() -> AsyncIterator[ContactUpsert]:
    items: list[ContactUpsert] = []
    for item in items:
        yield item


def empty(kind: str) -> Iterable[ContactUpsert] | AsyncIterable[ContactUpsert]:
    """A fresh empty desired set of the given kind."""
    if kind == "list":
        return []
    if kind == "tuple":
        return ()
    if kind == "iterator":
        return iter([])
    return generator([]) if kind == "generator" else _no_items()


@pytest.mark.parametrize("kind", ["list", "tuple", "iterator", "generator", "async-generator"])
async def test_an_empty_desired_set_with_delete_missing_is_refused_whatever_its_type(
    fake: FakeBillabex, client: BillabexClient, kind: str
) -> None:
    add(fake, "Ada Lovelace")
    with pytest.raises(SyncRefusedError) as caught:
        await client.contacts.sync(
            fake.account_id,
            empty(kind),
            delete_missing=True,
            max_deletes=10,
            allow_empty_account=True,  # no keyword lifts this guard
        )
    assert caught.value.guard == "empty_desired"
    assert isinstance(caught.value, InvalidRequestError)
    assert set(methods(fake)) == {"GET"}
    assert names(fake) == {"Ada Lovelace"}
    planned = await client.contacts.sync(
        fake.account_id, empty(kind), delete_missing=True, dry_run=True
    )
    assert [r.guard for r in planned.refusals] == ["empty_desired", "empty_account"]
    assert not planned.ok


async def test_an_empty_desired_set_without_delete_missing_is_a_no_op(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    add(fake, "Ada Lovelace")
    result = await client.contacts.sync(fake.account_id, [])
    assert result.ok
    assert result.refusals == []


async def test_the_default_delete_limit_refuses_and_sends_nothing(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    fake.seed_contacts(fake.account_id, 20)
    keep = fake.contacts(fake.account_id)[:2]
    desired = [upsert(keep[0].full_name, "fr"), upsert(keep[1].full_name)]  # one update
    with pytest.raises(SyncRefusedError) as caught:
        await client.contacts.sync(fake.account_id, desired, delete_missing=True)
    error = caught.value
    assert (error.guard, error.count, error.limit, error.field) == (
        "max_deletes",
        18,
        5,
        "max_deletes",
    )
    assert "delete 18 of 20" in str(error)
    assert "max_deletes=18" in str(error)
    assert set(methods(fake)) == {"GET"}  # not even the update was sent
    assert len(fake.contacts(fake.account_id)) == 20

    with pytest.raises(SyncRefusedError, match="limit of 17"):
        await client.contacts.sync(fake.account_id, desired, delete_missing=True, max_deletes=17)
    result = await client.contacts.sync(
        fake.account_id, desired, delete_missing=True, max_deletes=18
    )
    assert (result.updated, result.deleted) == (1, 18)
    assert len(fake.contacts(fake.account_id)) == 2


@pytest.mark.parametrize(
    ("listed_count", "deletes", "refused"),
    [
        (20, DEFAULT_MAX_DELETES, False),
        (20, DEFAULT_MAX_DELETES + 1, True),
        (100, 10, False),
        (100, 11, True),
    ],
)
async def test_the_default_limit_is_five_or_a_tenth_of_the_account(
    fake: FakeBillabex, client: BillabexClient, listed_count: int, deletes: int, refused: bool
) -> None:
    fake.seed_contacts(fake.account_id, listed_count)
    stored = fake.contacts(fake.account_id)[deletes:]
    desired = [upsert(c.full_name, email=c.email.address if c.email else None) for c in stored]
    planned = await client.contacts.sync(
        fake.account_id, desired, delete_missing=True, dry_run=True
    )
    assert planned.deleted == deletes
    assert [r.guard for r in planned.refusals] == (["max_deletes"] if refused else [])


async def test_a_share_limit_holds_beside_a_count(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    fake.seed_contacts(fake.account_id, 20)
    desired = [upsert(c.full_name) for c in fake.contacts(fake.account_id)[:8]]  # 12 deletes
    share = await client.contacts.sync(
        fake.account_id, desired, delete_missing=True, dry_run=True, max_delete_share=0.5
    )
    assert [(r.guard, r.limit) for r in share.refusals] == [("max_deletes", 10)]
    assert "max_delete_share=0.5" in share.refusals[0].message
    both = await client.contacts.sync(
        fake.account_id,
        desired,
        delete_missing=True,
        dry_run=True,
        max_deletes=15,
        max_delete_share=0.6,
    )
    assert both.refusals == []
    smaller = await client.contacts.sync(
        fake.account_id,
        desired,
        delete_missing=True,
        dry_run=True,
        max_deletes=11,
        max_delete_share=0.6,
    )
    assert [r.limit for r in smaller.refusals] == [11]


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("max_deletes", -1),
        ("max_deletes", True),
        ("max_deletes", 2.5),
        ("max_delete_share", 1.5),
        ("max_delete_share", -0.1),
    ],
)
async def test_invalid_limits_are_refused_before_anything_is_sent(
    fake: FakeBillabex, client: BillabexClient, keyword: str, value: object
) -> None:
    limits: dict[str, Any] = {keyword: value}
    with pytest.raises(InvalidRequestError) as caught:
        await client.contacts.sync(fake.account_id, [upsert("Ada")], delete_missing=True, **limits)
    assert caught.value.field == keyword
    assert fake.requests == []


async def test_a_sync_never_leaves_the_account_empty_unless_allowed(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    add(fake, "Ada Lovelace", "Bob Marley")
    # The only create fails; with deletes allowed after failures, both would go.
    fake.script(method="PUT", kind="status", status=422, times=1)
    desired = [upsert("Zed Shaw")]
    result = await client.contacts.sync(
        fake.account_id, desired, delete_missing=True, delete_after_failures=True
    )
    assert result.deletes_skipped == 2
    assert result.deletes_skipped_reason is not None
    assert "allow_empty_account=True" in result.deletes_skipped_reason
    assert names(fake) == {"Ada Lovelace", "Bob Marley"}

    fake.script(method="PUT", kind="status", status=422, times=1)
    result = await client.contacts.sync(
        fake.account_id,
        desired,
        delete_missing=True,
        delete_after_failures=True,
        allow_empty_account=True,
    )
    assert result.deleted == 2
    assert names(fake) == set()


async def test_a_dry_run_reports_what_each_guard_would_stop(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    fake.seed_contacts(fake.account_id, 20)
    desired = [upsert(fake.contacts(fake.account_id)[0].full_name)]
    planned = await client.contacts.sync(
        fake.account_id, desired, delete_missing=True, dry_run=True
    )
    assert planned.deleted == 19
    (refusal,) = planned.refusals
    assert (refusal.guard, refusal.count, refusal.limit, refusal.override) == (
        "max_deletes",
        19,
        5,
        "max_deletes",
    )
    assert not planned.ok
    assert set(methods(fake)) == {"GET"}
    # A real run raises the same, and a result passed in shows it too.
    result = SyncResult()
    with pytest.raises(SyncRefusedError):
        await client.contacts.sync(fake.account_id, desired, delete_missing=True, result=result)
    assert result.refusals == planned.refusals


# -- planning hands the loop back ------------------------------------------------------


def many(n: int, seen: list[int]) -> Iterator[ContactUpsert]:
    for i in range(n):
        seen.append(i)
        yield upsert(f"Person {i:05d} Example")


async def test_planning_lets_other_tasks_run() -> None:
    contacts = MemoryContacts(listed(*(f"Listed {i:05d} Person" for i in range(2000))))
    seen: list[int] = []
    ticks = 0
    finished = False

    async def ticker() -> None:
        nonlocal ticks
        while not finished:
            ticks += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker is running
    plan = await plan_sync(
        contacts, "acct", many(2000, seen), delete_missing=True, max_deletes=2000
    )
    finished = True
    await other
    assert plan.desired_seen == len(seen) == 2000
    # 4,000 items: at least one hand-back per 256 of them.
    assert ticks >= 4000 // 256


async def test_a_cancel_during_planning_stops_it() -> None:
    contacts = MemoryContacts(listed(*(f"Listed {i:05d} Person" for i in range(500))))
    seen: list[int] = []
    task = asyncio.create_task(plan_sync(contacts, "acct", many(20_000, seen)))
    for _ in range(10_000):  # let the planner get into the desired items
        if seen:
            break
        await asyncio.sleep(0)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 0 < len(seen) < 20_000


# -- the CLI inherits the guards -------------------------------------------------------


async def test_the_cli_sync_refuses_a_mass_delete_and_sends_nothing(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    fake.seed_contacts(fake.account_id, 20)
    rows = [[c.full_name, c.language, ""] for c in fake.contacts(fake.account_id)[:2]]
    source = write_csv(tmp_path / "contacts.csv", ["full_name", "language", "email"], *rows)
    # --yes: consent to delete does not lift the library's guard.
    run = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--delete-missing", "--yes"
    )
    assert run.code == 2, run.err
    assert "would delete 18 of 20" in run.err
    assert set(methods(fake)) == {"GET"}
    assert len(fake.contacts(fake.account_id)) == 20


async def test_the_cli_names_its_flag_and_max_deletes_lifts_the_guard(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    fake.seed_contacts(fake.account_id, 20)
    rows = [[c.full_name, c.language, ""] for c in fake.contacts(fake.account_id)[:2]]
    source = write_csv(tmp_path / "contacts.csv", ["full_name", "language", "email"], *rows)
    sync = ("contacts", "sync", fake.account_id, str(source), "--delete-missing")
    dry = await billabex(fake, *sync, "--dry-run")
    assert dry.code == 1, dry.err  # the real run would be refused
    assert "would refuse:" in dry.err
    assert "pass --max-deletes 18 (or more)" in dry.err
    refused = await billabex(fake, *sync, "--yes", "--max-deletes", "17")
    assert refused.code == 2, refused.err
    assert "limit of 17 (max_deletes=17)" not in refused.err  # flags, not keywords
    assert "pass --max-deletes 18" in refused.err
    assert len(fake.contacts(fake.account_id)) == 20
    assert set(methods(fake)) == {"GET"}
    done = await billabex(fake, *sync, "--yes", "--max-deletes", "18")
    assert done.code == 0, done.err
    assert {c.full_name for c in fake.contacts(fake.account_id)} == {r[0] for r in rows}


@pytest.mark.parametrize(
    "bad",
    [
        ContactUpsert(full_name=5, language="en"),  # type: ignore[arg-type]
        ContactUpsert(full_name="Ada", language="en", email=["a@b.c"]),  # type: ignore[arg-type]
        ContactUpsert(full_name="Ada\x00", language="en"),
    ],
    ids=["int-name", "list-email", "nul-name"],
)
async def test_an_invalid_desired_item_fails_alone_and_withholds_the_deletes(
    fake: FakeBillabex, client: BillabexClient, bad: ContactUpsert
) -> None:
    add(fake, "Grace Hopper", "Alan Turing")
    desired = [upsert("Grace Hopper", language="fr"), bad]
    dry = await client.contacts.sync(fake.account_id, desired, delete_missing=True, dry_run=True)
    assert [f.index for f in dry.failed] == [1]
    assert isinstance(dry.failed[0].error, InvalidRequestError)
    result = await client.contacts.sync(fake.account_id, desired, delete_missing=True)
    assert [f.index for f in result.failed] == [1]
    assert result.updated == 1
    assert result.deleted == 0  # Alan is not deleted
    assert result.deletes_skipped == 1
    assert not result.ok
    assert names(fake) == {"Grace Hopper", "Alan Turing"}
    assert "DELETE" not in methods(fake)
