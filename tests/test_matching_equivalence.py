"""Property: the indexed ``Matcher`` answers exactly as the matching rules, written plainly.

The reference below scans every contact and applies the rules word for word
(email first, case-insensitive; then the closest name within
``min(2, shorter length // 5)`` edits on NFC, stripped, lower-cased names;
ties to the oldest). Hypothesis drives both through the same interleaved
adds, renames, removals and lookups, on names made by editing a few base
names (so many are one or two edits apart), with accents, case variants and
lengths around the 5- and 10-character thresholds.
"""

from __future__ import annotations

import random
import string
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billabex_async._matching import Matcher
from billabex_async._matching.index import MOVE_EVERY_ADD, DeletionIndex
from billabex_async._matching.table import CROWD
from tests._matching_helpers import Reference, brute, count_keying

BASES = ["Ann", "Josée", "Renée Dupont", "Hans Groß", "Jon Smith", "Müller-Lüdenscheidt Ines"]
ALPHABET = "aeinorsé ÉJ"


@st.composite
def names(draw: st.DrawFn) -> str:
    """A base name, a cut of it, or either with up to three random edits; cased at random."""
    text = draw(st.sampled_from(BASES))
    if draw(st.booleans()):
        text = text[: draw(st.integers(3, 11))]
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(ALPHABET))
        how = draw(st.sampled_from(["insert", "delete", "replace"]))
        if how == "insert":
            text = text[:at] + char + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    cases: list[Callable[[str], str]] = [str, str.upper, str.lower, str.title]
    text = draw(st.sampled_from(cases))(text)
    if draw(st.booleans()):  # decomposed accents: equal once NFC-normalised
        text = unicodedata.normalize("NFD", text)
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", "  "]))


emails = st.none() | st.sampled_from(["a@x.io", "A@X.io", " b@x.io", "c@x.io"])
keys = st.integers(0, 12)


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[object, ...]]:
    """Adds, removes and finds; names come mostly from a small pool, so many coincide."""
    pool = draw(st.lists(names(), min_size=1, max_size=5))
    name = st.sampled_from(pool) | names()
    return draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("add"), keys, name, emails),
                st.tuples(st.just("remove"), keys),
                st.tuples(st.just("find"), name, emails),
            ),
            max_size=40,
        )
    )


@settings(max_examples=250, deadline=None)
@given(operations())
def test_matcher_answers_like_the_plain_rules(ops: list[tuple[object, ...]]) -> None:
    _check_against_reference(Matcher(), ops)


@settings(max_examples=250, deadline=None)
@given(operations())
def test_a_deferred_matcher_answers_like_the_plain_rules(ops: list[tuple[object, ...]]) -> None:
    """Keyed at the first fuzzy lookup, all at once: the same answers as keyed at each add."""
    _check_against_reference(Matcher(deferred=True), ops)


def _check_against_reference(matcher: Matcher[int], ops: list[tuple[object, ...]]) -> None:
    reference = Reference()
    for op in ops:
        if op[0] == "add":
            _, key, name, email = op
            assert isinstance(key, int)
            assert isinstance(name, str)
            assert email is None or isinstance(email, str)
            matcher.add(key, name, email)
            reference.add(key, name, email)
        elif op[0] == "remove":
            assert isinstance(op[1], int)
            matcher.remove(op[1])
            reference.remove(op[1])
        else:
            _, name, email = op
            assert isinstance(name, str)
            assert email is None or isinstance(email, str)
            assert matcher.find(name, email) == reference.find(name, email), (name, email)
    assert len(matcher) == len(reference.contacts)
    for _, name, _ in reference.contacts.values():  # every stored name finds itself
        assert matcher.find_by_name(name) is not None


@settings(max_examples=150, deadline=None)
@given(st.lists(names(), min_size=1, max_size=40), names())
def test_index_finds_every_name_within_the_rule(stored: list[str], query: str) -> None:
    index = DeletionIndex()
    normalised = [Reference.name(n) for n in stored]
    slots = {index.add(n): n for n in normalised}
    wanted = Reference.name(query)
    assert set(index.matches(wanted)) == brute(slots, wanted)


def test_names_of_exactly_ten_characters_tolerate_two_edits() -> None:
    """The boundary where a name's keys change kind: 10 characters have both kinds."""
    index = DeletionIndex()
    ten = index.add("renee dupo")
    thirteen = index.add("renee dupontx")
    assert sorted(index.matches("renee dupont")) == [(1, thirteen), (2, ten)]
    assert index.matches("xenee dupq") == [(2, ten)]  # two substitutions, 10 vs 10
    assert index.matches("renee dup") == [(1, ten)]  # 9 vs 10: one edit allowed
    assert index.matches("renee du") == []  # 8 vs 10: two edits, one allowed


def test_the_index_survives_rebuilds_and_slot_reuse() -> None:
    """Thousands of names force table growth; removals leave stale keys that must not match."""
    rng = random.Random(7)
    stored = ["".join(rng.choices(string.ascii_lowercase, k=12)) for _ in range(3000)]
    index = DeletionIndex()
    slots = [index.add(name) for name in stored]
    for slot in slots[::2]:
        index.remove(slot)
    reused = index.add("someone else entirely")
    assert reused in slots[::2]  # a freed slot, whose old keys are still in the table
    assert index.matches(stored[0]) == []  # its old name is gone
    assert index.matches(stored[1]) == [(0, slots[1])]
    assert index.matches(stored[3][:-1]) == [(1, slots[3])]
    assert index.matches("someone else entirelx") == [(1, reused)]
    assert len(index) == 1501


def _random_names(rng: random.Random, count: int) -> list[str]:
    # Short alphabet and lengths 3-14: all three kinds of keys, many near pairs.
    return ["".join(rng.choices("abcde ", k=rng.randint(3, 14))) for _ in range(count)]


@pytest.mark.parametrize("deferred", [False, True])
def test_the_index_stays_exact_while_it_grows(deferred: bool) -> None:
    """Lookups between adds and removals, through several growths (and mid-handover)."""
    rng = random.Random(11)
    index = DeletionIndex(deferred=deferred)
    stored: dict[int, str] = {}
    handovers = 0
    for step, name in enumerate(_random_names(rng, 6000)):
        stored[index.add(name)] = name
        if step % 3 == 0 and rng.random() < 0.3:
            index.remove(slot := rng.choice(list(stored)))
            del stored[slot]
        if step % 97 == 0 and stored:
            query = rng.choice(list(stored.values()))[: rng.randint(3, 14)] + rng.choice("ab")
            assert set(index.matches(query)) == brute(stored, query), query
            handovers += index._old is not None
    assert len(index) == len(stored)
    assert deferred or handovers > 0  # some lookups did ask two tables


def test_no_add_keys_more_than_a_few_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Growth is spread over later adds: no add re-keys the whole index (a stall at 100k)."""
    keyed = count_keying(monkeypatch)
    rng = random.Random(5)
    index = DeletionIndex()
    most = 0
    for name in ("".join(rng.choices(string.ascii_lowercase, k=12)) for _ in range(20_000)):
        keyed.clear()
        index.add(name)
        most = max(most, len(keyed))
    assert most <= 1 + MOVE_EVERY_ADD
    for name in ("".join(rng.choices(string.ascii_lowercase, k=12)) for _ in range(50)):
        assert index.matches(name) == []  # the moved names still answer, the others do not


def test_a_growth_after_many_removals_still_spreads_its_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Removed names leave the new table little room: the pace rises, so no add moves them all."""
    keyed = count_keying(monkeypatch)
    rng = random.Random(8)
    index = DeletionIndex()
    slots: list[int] = []
    removed = False
    most = paced = 0
    for _ in range(12_000):
        table = index._table
        if (
            not removed
            and index._old is None
            and len(slots) > 2000
            and table.used + 28 > table.limit
        ):
            for slot in rng.sample(slots, len(slots) // 3):  # a third removed before a growth
                index.remove(slot)
                slots.remove(slot)
            removed = True
        keyed.clear()
        slots.append(index.add("".join(rng.choices(string.ascii_lowercase, k=12))))
        paced = max(paced, index._pace)
        most = max(most, len(keyed))
    assert removed
    assert paced > MOVE_EVERY_ADD  # the growth after the removals moved faster ...
    assert most <= 1 + paced  # ... and no add finished a growth in one go


def test_a_deferred_matcher_keys_no_name_when_every_lookup_is_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyed = count_keying(monkeypatch)
    matcher: Matcher[int] = Matcher(deferred=True)
    for key in range(500):
        matcher.add(key, f"Person Number {key}", None)
    assert [matcher.find_by_name(f"person number {k} ") for k in range(500)] == list(range(500))
    assert keyed == []
    assert matcher.find_by_name("Person Numbr 7") == 7  # the first fuzzy lookup keys them all
    # Once each, and the query; the names keyed before their shared head keys
    # were seen crowded once more, into a table with tail keys.
    assert set(keyed) == {f"person number {k}" for k in range(500)} | {"person numbr 7"}
    assert len(keyed) <= 501 + CROWD + 1
