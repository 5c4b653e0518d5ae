"""The bulk engine gives what a sequential loop gives: same outcome per item, same server state.

A scripted in-memory server applies Billabex's upsert matching (email, then
the closest fuzzy name, the oldest on a tie) at a scripted point of each
request's flight; hypothesis draws the items, the delays, the concurrency
and the accounts. Items are people: each a variant (case, one edit) of one
of a few far-apart base names, with that person's email or none, so the
items that can reach one contact all conflict with each other. (Fuzzy
matching is not transitive: along a chain of names each two edits from the
next, which contact an item reaches depends on renames the engine cannot
see, so no ordering short of one at a time reproduces the loop there.)
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from typing import Any, cast
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from billabex_async._http import Transport
from billabex_async._matching import name_threshold, normalize_email, normalize_name
from billabex_async.bulk import bulk_upsert
from billabex_async.errors import InvalidRequestError
from billabex_async.models import Contact, ContactUpsert
from billabex_async.resources import ContactsResource

ACCOUNTS = [str(uuid.UUID(int=1)), str(uuid.UUID(int=2))]
# Pairwise at least five edits apart, at least eleven characters: variants of
# one base (one edit each) all match each other, and never another base's.
BASES = [
    "john smithers",
    "maria garcia",
    "zoe kravitz",
    "abcdefghijk",
    "li wei chen",
    "peter okafor",
]
# ("ok", index of the item that created the contact it landed on), or ("failed", None)
Outcome = tuple[str, int | None]


class Scripted(ContactsResource):
    """Applies each upsert after ``before[i]`` loop turns, answers ``after[i]`` turns later.

    Items with language "xx" are refused (nothing applied). ``origin`` maps a
    contact id to the index of the item that created it: ids differ between
    runs, origins must not.
    """

    def __init__(self, before: list[int], after: list[int]) -> None:
        super().__init__(cast(Transport, None))
        self.before, self.after = before, after
        # Per account: contact id -> [normalised email, full name, email as sent].
        self.stored: dict[str, dict[int, list[Any]]] = {a: {} for a in ACCOUNTS}
        self.origin: dict[int, int] = {}
        self.answers: dict[int, Outcome] = {}  # item index -> what it was answered
        self.next_id = 0

    def _match(self, account: str, item: ContactUpsert) -> int | None:
        stored = self.stored[account]
        if isinstance(item.email, str) and (email := normalize_email(item.email)):
            for cid, (held, _, _) in stored.items():
                if held == email:
                    return cid
        name, best = normalize_name(item.full_name), None
        for cid, (_, other_name, _) in stored.items():  # oldest first: ids only grow
            other = normalize_name(other_name)
            limit = name_threshold(name, other)
            distance = Levenshtein.distance(name, other, score_cutoff=limit)
            if distance <= limit and (best is None or distance < best[0]):
                best = (distance, cid)
        return None if best is None else best[1]

    async def upsert(
        self, account_id: str | UUID, data: ContactUpsert | None = None, **fields: Any
    ) -> Contact:
        assert data is not None
        index = int(str(fields["idempotency_key"]).rsplit("-", 1)[1])
        for _ in range(self.before[index]):
            await asyncio.sleep(0)
        if data.language == "xx":
            raise InvalidRequestError("language refused", field="language")
        account = str(account_id)
        cid = self._match(account, data)
        email = normalize_email(data.email) if isinstance(data.email, str) else None
        if cid is None:
            cid = self.next_id = self.next_id + 1
            self.origin[cid] = index
            self.stored[account][cid] = [email or None, data.full_name, data.email]
        else:
            entry = self.stored[account][cid]
            entry[1] = data.full_name
            if email:
                entry[0], entry[2] = email, data.email
        for _ in range(self.after[index]):
            await asyncio.sleep(0)
        self.answers[index] = ("ok", self.origin[cid])
        return Contact(id=UUID(int=cid), full_name=data.full_name, language=data.language)

    def state(self) -> dict[str, set[tuple[int, str, str | None]]]:
        """Each account's contacts as (origin item, name, email): comparable across runs."""
        return {
            account: {(self.origin[cid], name, email) for cid, (email, name, _) in held.items()}
            for account, held in self.stored.items()
        }


async def sequential(pairs: list[tuple[str, ContactUpsert]], server: Scripted) -> list[Outcome]:
    """The reference: await each upsert in input order."""
    for index, (account, item) in enumerate(pairs):
        with contextlib.suppress(InvalidRequestError):
            await server.upsert(account, item, idempotency_key=f"loop-{index}")
    return [server.answers.get(i, ("failed", None)) for i in range(len(pairs))]


async def engine(
    pairs: list[tuple[str, ContactUpsert]], server: Scripted, concurrency: int
) -> list[Outcome]:
    report = await bulk_upsert(server, pairs, concurrency=concurrency)
    assert report.total == report.succeeded + len(report.failed) == len(pairs)
    failed = {f.index for f in report.failed}
    assert all(isinstance(f.error, InvalidRequestError) for f in report.failed)
    assert failed.isdisjoint(server.answers)
    return [server.answers.get(i, ("failed", None)) for i in range(len(pairs))]


def variant(base: str, rng: random.Random) -> str:
    """``base`` with at most one edit, sometimes upper-cased or padded."""
    chars, at = list(base), rng.randrange(len(base))
    edit = rng.randrange(4)
    if edit == 1:
        chars.insert(at, rng.choice("aeiouxyz"))
    elif edit == 2:
        del chars[at]
    elif edit == 3:
        chars[at] = rng.choice("aeiouxyz")
    name = "".join(chars)
    return rng.choice([name, name, name.upper(), f"  {name} "])


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[tuple[str, ContactUpsert]], list[int], list[int], int]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    n = draw(st.integers(1, 50))
    accounts = ACCOUNTS[: draw(st.integers(1, 2))]
    pairs = []
    for _ in range(n):
        person = rng.randrange(len(BASES))
        name = variant(BASES[person], rng)
        email = rng.choice([None, None, f"p{person}@x.org", f" P{person}@X.org", "   "])
        language = "xx" if rng.random() < 0.1 else "en"
        item = ContactUpsert(full_name=name, language=language, email=email)
        pairs.append((rng.choice(accounts), item))
    before = [rng.randrange(4) for _ in range(n)]
    after = [rng.randrange(4) for _ in range(n)]
    return pairs, before, after, draw(st.integers(1, 8))


@settings(max_examples=200, deadline=None)
@given(run=runs())
def test_outcomes_and_final_state_equal_the_sequential_loop(
    run: tuple[list[tuple[str, ContactUpsert]], list[int], list[int], int],
) -> None:
    pairs, before, after, concurrency = run
    reference, concurrent = Scripted(before, after), Scripted(before, after)
    expected = asyncio.run(sequential(pairs, reference))
    got = asyncio.run(engine(pairs, concurrent, concurrency))
    assert got == expected
    assert concurrent.state() == reference.state()
