"""Billabex's upsert matching rules, as the simulator applies and sync predicts them."""

from __future__ import annotations

import pytest

from billabex_async._matching import Matcher, name_threshold, names_match


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        ("John Smith", "john smith", True),  # case
        ("  John Smith ", "John Smith", True),  # surrounding whitespace
        ("John Smith", "Jon Smith", True),  # 1 edit, 9+ letters
        ("Johnny Smith", "Jonny Smyth", True),  # 2 edits, 11+ letters
        ("John Smith", "Jon Smyth", False),  # 2 edits, but 9 letters allow only 1
        ("Johnny Smith", "Jonny Smythe", False),  # 3 edits
        ("Alice", "Alicf", True),  # 5 letters tolerate 1 edit
        ("Alice", "Alxcf", False),
        ("José", "Jose", False),  # 4 letters: exact only, and é is one edit
        ("Josée", "Josee", True),  # 5 letters, one accented character
        ("Bob", "Bob", True),
        ("Bob", "Rob", False),
        ("Christopher", "Christopher Jr", False),  # +3 characters
        ("Christopher", "Christophe", True),  # -1 character
    ],
)
def test_names_match_like_the_api(a: str, b: str, match: bool) -> None:
    assert names_match(a, b) is match


def test_threshold_is_min_of_two_and_a_fifth_of_the_shorter() -> None:
    assert [name_threshold("x" * n, "x" * 30) for n in (1, 4, 5, 9, 10, 40)] == [0, 0, 1, 1, 2, 2]


def test_email_wins_over_name_and_ignores_case() -> None:
    m: Matcher[str] = Matcher()
    m.add("a", "Alice Martin", "alice@acme.com")
    m.add("b", "Bob Stone", "bob@acme.com")
    assert m.find("Bob Stone", "ALICE@acme.com ") == "a"
    assert m.find("Bob Stone", "nobody@acme.com") == "b"  # unknown email: by name
    assert m.find("Zed Zulu", "nobody@acme.com") is None


def test_the_closest_name_wins_then_the_oldest() -> None:
    m: Matcher[int] = Matcher()
    m.add(1, "Jonathon Smyth", None)  # 2 edits from the query
    m.add(2, "Jonathan Smiths", None)  # 1 edit (one character longer)
    m.add(3, "Jonathan Smitt", None)  # 1 edit, younger than 2
    assert m.find_by_name("Jonathan Smith") == 2


def test_names_two_characters_longer_are_still_found() -> None:
    m: Matcher[int] = Matcher()
    m.add(1, "Margaret Thatcherxx", None)
    assert m.find_by_name("Margaret Thatcher") == 1
    m.add(2, "Margaret Thatcherxxx", None)
    assert m.find_by_name("Margaret Thatcher") == 1


def test_renames_and_removals_reindex() -> None:
    m: Matcher[int] = Matcher()
    m.add(1, "Old Name Here", "old@acme.com")
    m.add(1, "Brand New Person", "new@acme.com")
    assert m.find_by_name("Old Name Here") is None
    assert m.find("x", "old@acme.com") is None
    assert m.find("Brand New Persn", None) == 1
    m.remove(1)
    m.remove(1)  # unknown keys are ignored
    assert m.find("Brand New Person", "new@acme.com") is None
    assert len(m) == 0


def test_short_names_match_only_exactly() -> None:
    m: Matcher[int] = Matcher()
    m.add(1, "Ann", None)
    m.add(2, "ann", None)
    assert m.find_by_name("ANN") == 1  # the oldest exact match
    assert m.find_by_name("Anne") is None
