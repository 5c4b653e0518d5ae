"""Names sharing a long start or end: the index stays exact and its work stays bounded.

Thousands of "Christopher ..." share every head key of the deletion index.
Hypothesis checks the answers against a plain scan on such names (with the
crowd threshold lowered, so a few names already crowd a key); the counting
tests check that an add walks a short probe run and a lookup confirms few
candidates when 3,000 names share their first 8 characters.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from billabex_async._matching import Matcher
from billabex_async._matching import index as fuzzy_index
from billabex_async._matching import table as key_table
from billabex_async._matching.index import DeletionIndex
from tests._matching_helpers import Reference, brute

STARTS = ["christopher ", "jean-pierre d", "entreprise ", "jean-pier"]
ENDS = [" dupont-martin", "-lüdenscheidt", " sarl"]


@st.composite
def crowded_names(draw: st.DrawFn) -> str:
    """A shared start or end around a few letters from a tiny alphabet: many near pairs."""
    middle = draw(st.text(alphabet="abé ", min_size=0, max_size=6))
    how = draw(st.sampled_from(["start", "end", "both"]))
    start = draw(st.sampled_from(STARTS)) if how != "end" else ""
    end = draw(st.sampled_from(ENDS)) if how != "start" else ""
    text = start + middle + end
    if draw(st.booleans()):  # an edit inside the shared part too
        at = draw(st.integers(0, max(0, len(text) - 1)))
        text = text[:at] + draw(st.sampled_from("xé")) + text[at + 1 :]
    return text


@contextmanager
def crowd_of(size: int) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(key_table, "CROWD", size)
        yield


@settings(max_examples=200, deadline=None)
@given(
    st.lists(crowded_names(), min_size=1, max_size=60),
    st.lists(crowded_names(), min_size=1, max_size=5),
    st.sampled_from([1, 2, 3, 16]),
    st.booleans(),
)
def test_the_index_answers_like_a_scan_on_names_sharing_long_starts_and_ends(
    stored: list[str], queries: list[str], crowd: int, deferred: bool
) -> None:
    with crowd_of(crowd):
        index = DeletionIndex(deferred=deferred)
        slots: dict[int, str] = {}
        for step, name in enumerate(stored):
            slots[index.add(name)] = name
            if step % 7 == 6:  # removals leave stale entries in crowded keys too
                gone = sorted(slots)[step % len(slots)]
                index.remove(gone)
                del slots[gone]
            if step % 5 == 0:  # lookups between adds: while tail keys are handed over
                query = queries[step % len(queries)]
                assert set(index.matches(query)) == brute(slots, query), query
        for query in queries + stored:
            assert set(index.matches(query)) == brute(slots, query), query


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(crowded_names(), st.booleans()), min_size=1, max_size=40))
def test_a_matcher_answers_like_the_rules_on_names_sharing_long_starts(
    steps: list[tuple[str, bool]],
) -> None:
    with crowd_of(2):
        matcher: Matcher[int] = Matcher()
        reference = Reference()
        for key, (name, lookup) in enumerate(steps):
            if lookup:
                assert matcher.find(name, None) == reference.find(name, None), name
            matcher.add(key % 25, name, None)  # keys repeat: renames
            reference.add(key % 25, name, None)


def _sharing(count: int, *, start: str = "", end: str = "") -> list[str]:
    rng = random.Random(count)
    return [start + "".join(rng.choices(string.ascii_lowercase, k=6)) + end for _ in range(count)]


def _longest_run(index: DeletionIndex) -> int:
    """The longest stretch of occupied cells: the most an add or a lookup walks for one key."""
    longest = 0
    for table in filter(None, [index._table, index._old]):
        run = 0
        for cell in table.fps:
            run = run + 1 if cell else 0
            longest = max(longest, run)
    return longest


@pytest.mark.parametrize(
    "stored", [_sharing(3000, start="christopher "), _sharing(3000, end=" dupont-martin")]
)
def test_names_sharing_eight_characters_keep_adds_and_lookups_bounded(
    stored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No probe run grows with the names sharing a start, and a lookup confirms only a few."""
    index = DeletionIndex()
    slots = {index.add(name): name for name in stored}
    assert _longest_run(index) <= 200  # was ~2,000-4,000: every add walked all its crowd
    confirmed = 0

    class Counting:
        @staticmethod
        def distance(a: str, b: str, *, score_cutoff: int) -> int:
            nonlocal confirmed
            confirmed += 1
            return Levenshtein.distance(a, b, score_cutoff=score_cutoff)

    monkeypatch.setattr(fuzzy_index, "Levenshtein", Counting)
    queries = [name[:-1] + ("q" if name[-1] != "q" else "z") for name in stored[::10]]
    for query in queries:
        assert set(index.matches(query)) == brute(slots, query)
    assert confirmed <= 20 * len(queries)  # was ~3,000 a lookup: the whole crowd


def test_a_ten_character_lookup_read_by_its_tail_still_finds_one_edit_shorter_names() -> None:
    """10 characters match a 9-character name by 1 edit, through keys no tail replaces."""
    with crowd_of(1):
        index = DeletionIndex()
        nine = index.add("jean-pier")
        for letter in string.ascii_lowercase[:20]:  # crowd the head keys "jean-pie..."
            index.add(f"jean-pier{letter}")
        for letter in string.ascii_lowercase[:20]:  # a growth into a table with tail keys
            index.add(f"jean-pie{letter}{letter}")
        assert index._table.tails
        assert (1, nine) in index.matches("jean-pierz")
