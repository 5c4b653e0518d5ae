"""contacts.sync against FakeBillabex: plans, dry runs, request counts, failures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast
from uuid import UUID

import pytest

from billabex_async import BillabexClient, ContactUpsert
from billabex_async._http import Transport
from billabex_async.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from billabex_async.models import Contact
from billabex_async.resources import ContactsResource
from billabex_async.sync import apply_plan, plan_sync, sync_contacts
from billabex_async.testing import FakeBillabex


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=11) as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeBillabex) -> AsyncIterator[BillabexClient]:
    async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
        yield client


def methods(fake: FakeBillabex, since: int = 0) -> list[str]:
    return [r.method for r in fake.requests[since:]]


def upsert(name: str, language: str = "en", email: str | None = None) -> ContactUpsert:
    return ContactUpsert(full_name=name, language=language, email=email)


async def test_plan_then_apply_creates_updates_deletes_and_skips(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    account = fake.account_id
    fake.add_contact(account, full_name="Ada Lovelace", email="ada@example.org")
    bob = fake.add_contact(account, full_name="Bob Marley", email="bob@example.org")
    carl = fake.add_contact(account, full_name="Carl Sagan")
    dora = fake.add_contact(account, full_name="Dora Maar", language="fr", email="d@example.org")
    eve = fake.add_contact(account, full_name="Eve Curie", email="eve@example.org")
    fake.set_read_only(account, eve.id)
    desired = [
        upsert("Ada Lovelace", email="ADA@example.org"),  # same address, other case: unchanged
        upsert("Bob Marley", "fr", "bob@example.org"),  # language changes
        upsert("Karl Sagan"),  # no email: fuzzy-matches Carl, renames him
        upsert("Zed Shaw", email="zed@example.org"),  # new
        upsert("Zed Shaw", "de", "zed@example.org"),  # then updates the contact just created
        upsert("Eve Curie", "fr", "eve@example.org"),  # read-only: left alone
    ]

    planned = await client.contacts.sync(account, desired, delete_missing=True, dry_run=True)
    assert methods(fake) == ["GET", "GET"]  # the page, then the empty one that ends the walk
    summary = (planned.created, planned.updated, planned.unchanged, planned.deleted)
    assert summary == (1, 3, 1, 1)
    assert planned.skipped == 1
    assert planned.dry_run
    by_name = {(c.kind, c.full_name): c for c in planned.changes}
    assert by_name[("update", "Bob Marley")].fields == {"language": ("en", "fr")}
    assert by_name[("update", "Bob Marley")].contact_id == bob.id
    assert by_name[("update", "Karl Sagan")].fields == {"full_name": ("Carl Sagan", "Karl Sagan")}
    assert by_name[("update", "Karl Sagan")].contact_id == carl.id
    assert by_name[("create", "Zed Shaw")].fields["email"] == (None, "zed@example.org")
    assert by_name[("update", "Zed Shaw")].fields == {"language": ("en", "de")}
    assert by_name[("delete", "Dora Maar")].contact_id == dora.id
    assert by_name[("update", "Eve Curie")].status == "skipped"
    assert all(c.status == "planned" for c in planned.changes if c.full_name != "Eve Curie")

    before = len(fake.requests)
    applied = await client.contacts.sync(account, desired, delete_missing=True)
    assert (applied.created, applied.updated, applied.unchanged, applied.deleted) == summary
    assert applied.ok
    assert not applied.dry_run
    assert sorted(methods(fake, before)) == ["DELETE", "GET", "GET", "PUT", "PUT", "PUT", "PUT"]
    stored = {c.full_name: c for c in fake.contacts(account)}
    assert set(stored) == {"Ada Lovelace", "Bob Marley", "Karl Sagan", "Zed Shaw", "Eve Curie"}
    assert stored["Bob Marley"].language == "fr"
    assert stored["Karl Sagan"].id == carl.id
    assert stored["Zed Shaw"].language == "de"
    assert stored["Eve Curie"].language == "en"
    ada_email = stored["Ada Lovelace"].email
    assert ada_email is not None
    assert ada_email.address == "ada@example.org"
    created = next(c for c in applied.changes if c.kind == "create")
    assert created.contact_id == stored["Zed Shaw"].id
    assert created.status == "applied"


async def test_re_syncing_unchanged_contacts_sends_only_the_list_requests(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    fake.seed_contacts(fake.account_id, 250, email_ratio=0.8)
    desired = [
        upsert(c.full_name, c.language, c.email.address if c.email else None)
        for c in fake.contacts(fake.account_id)
    ]
    result = await client.contacts.sync(fake.account_id, desired, delete_missing=True)
    assert (result.created, result.updated, result.deleted) == (0, 0, 0)
    assert result.unchanged == 250
    assert result.listed == 250
    # Pages of 100, 100, 50, then the empty page that ends the walk.
    assert methods(fake) == ["GET"] * 4
    assert [r.query.get("first") for r in fake.requests] == ["100"] * 4


async def test_a_failed_upsert_is_reported_with_the_desired_index(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    fake.script(method="PUT", kind="status", status=422, times=1)
    desired = [upsert("Nina Simone"), upsert("Otis Redding"), upsert("Patti Smith")]
    result = await client.contacts.sync(fake.account_id, desired, concurrency=1)
    assert result.created == 2
    assert not result.ok
    (failure,) = result.failed
    assert failure.index == 0
    assert failure.item is desired[0]
    assert isinstance(failure.error, UnprocessableEntityError)
    assert [c.status for c in result.changes] == ["failed", "applied", "applied"]


async def test_a_contact_deleted_meanwhile_counts_as_deleted(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    fake.add_contact(fake.account_id, full_name="Stay Put")
    gone = fake.add_contact(fake.account_id, full_name="Gone Girl")
    desired = [upsert("Stay Put")]
    plan = await plan_sync(client.contacts, fake.account_id, desired, delete_missing=True)
    fake.remove_contact(fake.account_id, gone.id)  # someone else deleted it first
    result = await apply_plan(client.contacts, plan)
    assert result.deleted == 1
    assert result.ok


async def test_a_refused_write_scope_stops_the_writes_early(fake: FakeBillabex) -> None:
    reader = fake.issue_token(["accounts:read"])
    first = ["Ravi", "Sade", "Tina", "Uma", "Vlad", "Wanda", "Xiu", "Yusuf", "Zora", "Abel"]
    desired = [upsert(f"{name} {last}") for name in first for last in ("Okafor", "Lindqvist")]
    async with BillabexClient(token=reader, base_url=fake.url, rate_limit=None) as client:
        result = await client.contacts.sync(fake.account_id, desired, concurrency=2)
    assert isinstance(result.error, PermissionDeniedError)
    assert len(result.failed) == 1
    # Every other planned write is left as not attempted, read ahead or not.
    assert result.not_attempted == len(desired) - 1
    assert sorted(c.status for c in result.changes)[-1] == "not_attempted"
    assert methods(fake) == ["GET", "PUT"]


async def test_listing_errors_are_raised(fake: FakeBillabex) -> None:
    fake.revoke_token(fake.token)
    async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
        with pytest.raises(AuthenticationError):
            await client.contacts.sync(fake.account_id, [upsert("Vic Reeves")])


async def test_a_desired_item_of_the_wrong_type_fails_before_any_write(
    fake: FakeBillabex, client: BillabexClient
) -> None:
    bad: list[ContactUpsert] = [upsert("Walt Whitman"), {"fullName": "x"}]  # type: ignore[list-item]
    with pytest.raises(InvalidRequestError, match="desired item 1"):
        await client.contacts.sync(fake.account_id, bad)
    assert methods(fake) == ["GET"]


async def test_async_desired_input_and_progress(fake: FakeBillabex, client: BillabexClient) -> None:
    async def desired() -> AsyncIterator[ContactUpsert]:
        for name in ("Xavier Dolan", "Yoko Ono", "Zadie Smith"):
            yield upsert(name)

    seen: list[tuple[int, int | None]] = []
    result = await client.contacts.sync(
        fake.account_id, desired(), on_progress=lambda d, t: seen.append((d, t))
    )
    assert result.created == 3
    assert seen[-1] == (3, 3)


def seed(fake: FakeBillabex) -> None:
    for i, name in enumerate(["Anna Berg", "Anne Berg", "Jon Smith", "Marta Lopez", "Ivo Andric"]):
        fake.add_contact(fake.account_id, full_name=name, email=f"c{i}@example.org")
    for name in ["Lena Olin", "Peter Falk", "Otto Dix"]:
        fake.add_contact(fake.account_id, full_name=name)


def stored(fake: FakeBillabex) -> list[tuple[str, str, str | None]]:
    """The contacts' values, sorted (ids and the order of unrelated creates may differ)."""
    return sorted(
        (c.full_name, c.language, c.email.address if c.email else None)
        for c in fake.contacts(fake.account_id)
    )


async def test_sync_ends_where_upserting_every_item_in_order_ends() -> None:
    desired = [
        upsert("Anna Berg", "de", "C0@example.org"),
        upsert("Anne Berg"),  # no email: closest name wins
        upsert("John Smith", email="js@example.org"),  # unknown email: fuzzy name, sets the email
        upsert("Jon Smith", "fr", "js@example.org"),  # then the email finds it
        upsert("Marta Lopes", "es"),
        upsert("Lena Olin"),  # unchanged
        upsert("Petra Falk", "nl"),  # too far from Peter Falk: new
        upsert("Otto Dix", email="otto@example.org"),
        upsert("Ivo Andric", email="c4@example.org"),  # unchanged
        *[upsert(f"Person {w}", email=f"{w}@example.org") for w in ("Kilo", "Lima", "Mike")],
        upsert("Person Kilo", "it"),  # fuzzy chain over the new ones
    ]
    async with FakeBillabex(rate_limit=None, latency=0.002, jitter=0.01, seed=4) as fake:
        seed(fake)
        async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
            result = await client.contacts.sync(fake.account_id, desired, concurrency=8)
            assert result.ok
            after_sync = stored(fake)
            again = await client.contacts.sync(fake.account_id, desired, dry_run=True)
    async with FakeBillabex(rate_limit=None) as reference:
        seed(reference)
        async with BillabexClient(
            token=reference.token, base_url=reference.url, rate_limit=None
        ) as client:
            for item in desired:
                await client.contacts.upsert(reference.account_id, item)
        assert after_sync == stored(reference)
    assert result.unchanged == 3  # Anne Berg, Lena Olin, Ivo Andric
    # Syncing again plans no create: the plan predicted the server's matches.
    assert again.created == again.deleted == 0


class CountingContacts(ContactsResource):
    """An empty account whose upserts record how many were in flight at once."""

    def __init__(self) -> None:
        super().__init__(cast(Transport, None))
        self.in_flight = self.most = 0

    async def iterate(self, account_id: str | UUID, page_size: int = 100) -> AsyncIterator[Contact]:
        listed: list[Contact] = []
        for contact in listed:
            yield contact

    async def upsert(
        self, account_id: str | UUID, data: ContactUpsert | None = None, **fields: Any
    ) -> Contact:
        assert data is not None
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)  # stay "in flight" while the others start
        self.in_flight -= 1
        return Contact(id=uuid.uuid4(), full_name=data.full_name, language=data.language)


async def test_unrelated_creates_run_concurrently() -> None:
    contacts = CountingContacts()
    names = ["Ann Lee", "Bo Diddley", "Cy Young", "Di Fawcett", "Ed Sheeran", "Flo Rida"]
    desired = [upsert(f"{name} {last}") for name in names for last in ("Okafor", "Lindqvist")]
    result = await sync_contacts(contacts, str(uuid.uuid4()), desired, concurrency=4)
    assert result.created == len(desired)
    assert contacts.most == 4  # no false conflict serialised them
