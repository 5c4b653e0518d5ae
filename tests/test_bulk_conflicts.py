"""The engine's conflict ordering: index-based admission keeps what a scan over the window kept."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any, cast
from uuid import UUID

from hypothesis import example, given, settings
from hypothesis import strategies as st

from billabex_async._engine.conflicts import SATURATION, Op, Scope
from billabex_async._http import Transport
from billabex_async._matching import names_match, normalize_email
from billabex_async.bulk import bulk_upsert_account
from billabex_async.models import Contact, ContactUpsert
from billabex_async.resources import ContactsResource

BASES = ["john smith", "maria garcia", "li wei", "anna", "jo", "zoe kravitz", "abcdefghij"]


def conflict(a: ContactUpsert, b: ContactUpsert) -> bool:
    """Whether Billabex could match these two upserts to one contact."""
    emails = (a.email, b.email)
    if (
        all(isinstance(e, str) for e in emails)
        and len({normalize_email(str(e)) for e in emails}) == 1
    ):
        return True
    return names_match(a.full_name, b.full_name)


class Jittered(ContactsResource):
    """Upserts that stay in flight for a random number of loop turns; records overlaps."""

    def __init__(self, items: list[ContactUpsert], seed: int, *, least: int = 0) -> None:
        super().__init__(cast(Transport, None))
        self.rng = random.Random(seed)
        self.items = items
        self.position = {id(item): i for i, item in enumerate(items)}
        self.running: set[int] = set()
        self.overlaps: list[tuple[int, int]] = []
        self.completed: list[int] = []
        self.most = 0
        self.least = least  # loop turns each upsert stays in flight, at least

    async def upsert(
        self, account_id: str | UUID, data: ContactUpsert | None = None, **fields: Any
    ) -> Contact:
        assert data is not None
        me = self.position[id(data)]
        self.overlaps += [(o, me) for o in self.running if conflict(self.items[o], data)]
        self.running.add(me)
        self.most = max(self.most, len(self.running))
        for _ in range(self.rng.randrange(self.least, 6)):
            await asyncio.sleep(0)
        self.running.remove(me)
        self.completed.append(me)
        return Contact(id=uuid.uuid4(), full_name=data.full_name, language=data.language)


def near(base: str, rng: random.Random) -> str:
    chars = list(base)
    for _ in range(rng.randrange(3)):
        at = rng.randrange(len(chars) + 1)
        op = rng.randrange(3)
        if op == 0:
            chars.insert(at, rng.choice("aeiouxyz"))
        elif chars and at < len(chars):
            if op == 1:
                del chars[at]
            else:
                chars[at] = rng.choice("aeiouxyz")
    name = "".join(chars).strip() or base
    return name.upper() if rng.random() < 0.1 else name


@st.composite
def streams(draw: st.DrawFn) -> list[ContactUpsert]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    n = draw(st.integers(1, 60))
    items = []
    for _ in range(n):
        name = near(rng.choice(BASES), rng)
        email = rng.choice([None, None, "a@x.org", "A@X.org ", "b@x.org"])
        items.append(ContactUpsert(full_name=name, language="en", email=email))
    return items


@settings(max_examples=150, deadline=None)
@given(items=streams(), seed=st.integers(0, 1000), concurrency=st.integers(1, 6))
def test_conflicting_items_never_overlap_and_complete_in_input_order(
    items: list[ContactUpsert], seed: int, concurrency: int
) -> None:
    contacts = Jittered(items, seed)
    report = asyncio.run(
        bulk_upsert_account(contacts, str(uuid.uuid4()), items, concurrency=concurrency)
    )
    assert report.succeeded == len(items)
    assert contacts.overlaps == []
    done_at = {index: at for at, index in enumerate(contacts.completed)}
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if conflict(items[i], items[j]):
                assert done_at[i] < done_at[j], (items[i], items[j])


async def test_distinct_items_still_run_concurrently() -> None:
    items = [
        ContactUpsert(full_name=f"{a} {b}", language="en")
        for a in ("Alice", "Bruno", "Chloe", "Damien")
        for b in ("Okonkwo", "Lindqvist", "Ferreira", "Nakamura")
    ]
    contacts = Jittered(items, 1, least=1)
    await bulk_upsert_account(contacts, str(uuid.uuid4()), items, concurrency=6)
    assert contacts.most == 6


def test_a_bridge_orders_what_it_touches_after_the_groups_it_joins() -> None:
    # a ~ c and b ~ c, a !~ b: c waits for both; d ~ a waits for c (c's group).
    scope = Scope()

    def op(i: int, name: str) -> Op:
        async def run() -> None:
            return None

        return Op(i, "acct", cast(ContactUpsert, None), run, names=(name,))

    probe = op(0, "Quentin Tarantino")
    scope.admit(probe)
    scope.release(probe)
    a, b = op(1, "abcdefghijkl"), op(2, "abcdefghxyzw")
    c, d = op(3, "abcdefghxykl"), op(4, "abcdefghijkq")
    for o in (a, b, c, d):
        scope.admit(o)
    assert (a.waits, b.waits, c.waits, d.waits) == (0, 0, 2, 1)
    assert c.dependents == [d]
    assert scope.release(a) == []
    assert scope.release(b) == [c]
    assert scope.release(c) == [d]
    scope.release(d)
    assert scope.index.by_name == {}  # every group dissolved
    assert scope.keys == 0


def test_a_stream_that_never_drains_goes_one_at_a_time_with_bounded_keys() -> None:
    scope = Scope()
    ops = []
    for i in range(SATURATION + 50):

        async def run() -> None:
            return None

        # Each name is one edit from the previous: one ever-growing group.
        ops.append(Op(i, "acct", cast(ContactUpsert, None), run, names=(f"person {i:07d}",)))
    scope.admit(ops[0])
    scope.release(ops[0])  # the account's probe answered
    for o in ops[1:]:
        scope.admit(o)
        assert scope.keys <= SATURATION + 1
    assert scope.serial is not None
    assert all(o.waits == 1 for o in ops[2:])
    for o in ops[1:]:
        assert o.waits == 0
        scope.release(o)
    assert scope.serial is None


@st.composite
def near_names(draw: st.DrawFn) -> tuple[list[str], str]:
    """Names in flight and a new one, mostly within a few edits of one base."""
    # Many letters: few accidental matches, so the edits decide.
    alphabet = st.sampled_from("abcdefghijklmnopqrstuvwxyzé É")
    base = draw(st.text(alphabet, min_size=3, max_size=16))

    def edited() -> str:
        chars = list(base)
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(chars)))
            kind = draw(st.integers(0, 2))
            if kind == 0:
                chars.insert(at, draw(alphabet))
            elif at < len(chars):
                if kind == 1:
                    del chars[at]
                else:
                    chars[at] = draw(alphabet)
        return "".join(chars)

    return [edited() for _ in range(draw(st.integers(1, 6)))], edited()


@settings(max_examples=1000, deadline=None)
@given(case=near_names())
# One edit in the head and one in the tail: only the middle, shifted, is intact.
@example(case=(["abcdefghijkl"], "abXcdefghijYl"))
@example(case=(["abcdefghijkl"], "acdefghiYkl"))
@example(case=(["abcdefgh"], "abcdefgX"))  # 1 edit: the head
@example(case=(["abcdefgh"], "Xbcdefgh"))  # 1 edit: the tail
def test_a_name_waits_exactly_when_a_name_in_flight_matches_it(case: tuple[list[str], str]) -> None:
    # The piece index against the brute-force check of every name in flight.
    in_flight, new = case

    async def run() -> None:
        return None

    scope = Scope()
    scope.answered = True  # no probe: waits count conflicts only
    for i, name in enumerate(in_flight):
        scope.admit(Op(i, "acct", cast(ContactUpsert, None), run, names=(name,)))
    op = Op(len(in_flight), "acct", cast(ContactUpsert, None), run, names=(new,))
    scope.admit(op)
    assert (op.waits > 0) == any(names_match(name, new) for name in in_flight)


def test_an_op_alone_is_its_own_group_until_another_joins_and_then_leaves_no_group_behind() -> None:
    async def run() -> None:
        return None

    scope = Scope()
    scope.answered = True  # no probe: only conflicts order
    a = Op(0, "acct", cast(ContactUpsert, None), run, emails=("a@x.com",), names=("Ann Lee",))
    other = Op(1, "acct", cast(ContactUpsert, None), run, names=("Zed Quist",))
    scope.admit(a)
    scope.admit(other)
    assert a.group is None  # nothing shared: nothing built
    assert other.group is None
    b = Op(2, "acct", cast(ContactUpsert, None), run, emails=("A@x.com",))
    scope.admit(b)
    assert _group_of(a) is not None  # joined on the email
    assert _group_of(a) is _group_of(b)
    assert b.waits == 1
    assert a.dependents == [b]
    assert list(scope.release(a)) == [b]
    assert list(scope.release(a)) == []  # released once only
    assert list(scope.release(b)) == []
    assert _group_of(a) is None  # dissolved: no op keeps it
    assert _group_of(b) is None
    assert list(scope.release(other)) == []
    assert scope.keys == 0


def _group_of(op: Op) -> object:
    """``op.group``, read afresh (not narrowed by an earlier assertion)."""
    return op.group
