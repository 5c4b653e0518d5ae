"""Property: whatever the server's matching rules, sync(delete_missing=True) loses nothing.

Hypothesis draws an account (contacts in a few far-apart name groups, with
near-duplicate names, case variants such as "HANS GROSS" for "Hans Groß",
shared emails), a desired set (at most one item per group, so that no two
desired items can ever land on one contact), a server matching variant
(``testing.Matching``), failing upserts and the guard settings, then syncs
against the real FakeBillabex and checks the server afterwards:

- every desired item whose upsert did not fail is *present*: the server holds
  a contact with exactly its full name and language, and its email (ignoring
  case) when it sets one;
- no contact id an upsert of the run returned was deleted (nor a DELETE sent);
- after a failed upsert (without ``delete_after_failures``) no DELETE was sent;
- a refused run (a guard) sent no write at all.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import NamedTuple
from uuid import UUID

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from billabex_async import BillabexClient, ContactUpsert
from billabex_async.errors import SyncRefusedError
from billabex_async.sync import SyncResult
from billabex_async.testing import FakeBillabex, Matching

BASES = [
    "Hans Groß",
    "Jörg Weißmüller",
    "Bernadette Okoye",
    "Cornelius Vasquez",
    "Dagmar Lindqvist",
    "Emeka Nwosu",
    "Fiorella Bianchi",
    "Maria Garcia Lopez",
]
# Two edits at most per variant, three at most for the loosest matching
# below: groups this far apart can never match each other.
assert (
    min(
        Levenshtein.distance(a.casefold(), b.casefold())
        for a, b in itertools.combinations(BASES, 2)
    )
    >= 8
)

MATCHINGS = [
    Matching(),
    Matching(fold="casefold"),
    Matching(ties="newest"),
    Matching(closest=False),
    Matching(max_distance=1),
    Matching(max_distance=3, share=0.25),
    Matching(fold="casefold", ties="newest", closest=False),
]


def variant(base: str, how: int) -> str:
    """A name close to ``base``: itself, another case, or one or two edits away."""
    if how == 0:
        return base
    if how == 1:
        return base.upper()  # "Groß" becomes "GROSS": equal under casefold only
    if how == 2:
        return base.lower()
    if how == 3:
        return base[:-1] + "x"
    if how == 4:
        return base[:-1]
    return base[:-2] + "yz"


VARIANTS = 6


class Case(NamedTuple):
    existing: list[tuple[str, str | None]]
    """The account's contacts (name, email), oldest first."""
    desired: list[ContactUpsert]
    matching: Matching
    failing_puts: int
    """The first this many upserts answer 422."""
    max_deletes: int | None
    delete_after_failures: bool
    concurrency: int


@st.composite
def scenarios(draw: st.DrawFn) -> Case:
    groups = draw(st.lists(st.integers(0, len(BASES) - 1), min_size=1, max_size=4, unique=True))
    existing: list[tuple[str, str | None]] = []
    for g in groups:
        for k in range(draw(st.integers(1, 3))):
            email = draw(st.sampled_from([None, f"g{g}.0@example.org", f"g{g}.{k}@example.org"]))
            existing.append((variant(BASES[g], draw(st.integers(0, VARIANTS - 1))), email))
    # Mostly groups the account holds (where the matching rules matter), maybe a new one.
    others = [g for g in range(len(BASES)) if g not in groups]
    wanted = draw(st.lists(st.sampled_from(groups), min_size=1, max_size=len(groups), unique=True))
    wanted += draw(st.lists(st.sampled_from(others), max_size=1))
    desired = [
        ContactUpsert(
            full_name=variant(BASES[g], draw(st.integers(0, VARIANTS - 1))),
            language=draw(st.sampled_from(["en", "fr"])),
            email=draw(st.sampled_from([None, f"g{g}.0@example.org", f"g{g}.new@example.org"])),
        )
        for g in draw(st.permutations(wanted))
    ]
    return Case(
        existing=existing,
        desired=desired,
        matching=draw(st.sampled_from(MATCHINGS)),
        failing_puts=draw(st.sampled_from([0, 0, 1, 2])),
        max_deletes=draw(st.sampled_from([None, 100])),
        delete_after_failures=draw(st.booleans()),
        concurrency=draw(st.sampled_from([1, 4])),
    )


def present(fake: FakeBillabex, item: ContactUpsert) -> bool:
    """The server holds a contact with the item's name and language, and its email if set.

    Exact values, not a match: every desired item here is alone in its
    name group, so after a sync its values must sit on some contact.
    """
    for contact in fake.contacts(fake.account_id):
        if (contact.full_name, contact.language) != (item.full_name, item.language):
            continue
        if item.email is None:
            return True
        if contact.email is not None and contact.email.address.lower() == item.email.lower():
            return True
    return False


async def scenario(case: Case) -> None:
    async with FakeBillabex(rate_limit=None, matching=case.matching, seed=0) as fake:
        for name, email in case.existing:
            fake.add_contact(fake.account_id, full_name=name, email=email)
        listed = {c.id for c in fake.contacts(fake.account_id)}
        if case.failing_puts:
            fake.script(method="PUT", kind="status", status=422, times=case.failing_puts)
        async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as client:
            try:
                result = await client.contacts.sync(
                    fake.account_id,
                    case.desired,
                    delete_missing=True,
                    max_deletes=case.max_deletes,
                    delete_after_failures=case.delete_after_failures,
                    concurrency=case.concurrency,
                )
            except SyncRefusedError as exc:
                event(f"refused: {exc.guard}")
                assert {r.method for r in fake.requests} == {"GET"}  # nothing written
                assert {c.id for c in fake.contacts(fake.account_id)} == listed
                return
        check(fake, case, result, listed)


def check(fake: FakeBillabex, case: Case, result: SyncResult, listed: set[UUID]) -> None:
    """Every desired item whose write did not fail is ``present``; no contact an upsert
    returned was deleted; with a failed write (and no opt-in) nothing was deleted."""
    failed = {failure.index for failure in result.failed}
    event("writes failed" if failed else "writes succeeded")
    event(f"deletes: {result.deleted} sent, {result.kept} kept, {result.deletes_skipped} withheld")
    for index, item in enumerate(case.desired):
        if index not in failed:
            assert present(fake, item), (index, item, fake.contacts(fake.account_id))
    now = {c.id for c in fake.contacts(fake.account_id)}
    deleted_paths = [r.path for r in fake.requests if r.method == "DELETE"]
    returned = {
        c.contact_id for c in result.changes if c.kind != "delete" and c.status == "applied"
    }
    assert returned <= now  # no contact an upsert returned was deleted
    assert not [p for p in deleted_paths if any(p.endswith(str(i)) for i in returned)]
    if result.failed and not case.delete_after_failures:
        assert deleted_paths == []
        assert listed <= now


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenarios())
def test_sync_never_loses_a_desired_contact(case: Case) -> None:
    asyncio.run(scenario(case))
