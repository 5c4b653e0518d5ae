"""Base layer: the deletion keys a normalised name is stored and looked up under.

Two strings within ``k`` edits share a string reachable from each by at most
``k`` deletions (symmetric delete, as in SymSpell). The keys follow the
threshold ``min(2, shorter length // 5)``:

- under 5 characters a name matches only exactly: its key is itself;
- 5 to 10 characters (a pair whose shorter name has 5-9 tolerates 1 edit):
  the name and its single deletions;
- 10 characters or more (2 edits between two such names): the first
  ``PREFIX`` characters with exactly two deleted, 28 "head" keys however
  long the name. Each edit costs a window of 8 at most one character of what
  it shares with the other name's window at the same place, so two names
  within 2 edits share a head key; and, by the same argument, a "tail" key:
  the last ``PREFIX`` characters with two deleted.

A long name's keys are tuples of characters, a short name's strings: the
two kinds rarely share a hash, and when they do the exact distance sorts the
candidate out (no salt to mix in: a third of the keying time).
"""

from __future__ import annotations

from itertools import combinations

__all__ = ["LONG", "PREFIX", "index_keys", "most_keys", "short_keys", "tail_keys"]

PREFIX = 8
"""Characters of a long name its keys are taken from (at most the shortest long name).

Measured: 8 (28 keys) looks up ~2.5x faster than 10 (45 keys) and takes less
memory; a longer prefix only sorts out more candidates before the exact check.
"""
LONG = 10
"""Names this long or longer tolerate 2 edits between them."""
_WINDOW = PREFIX - 2
"""Characters left in a long name's window once two are deleted."""
HEAD_KEYS = PREFIX * (PREFIX - 1) // 2
"""Keys one window gives: one per pair of deleted positions (28)."""

# A window with two characters deleted is one of its ``combinations`` of
# ``_WINDOW`` characters: itertools walks them in C and reuses one tuple when
# nothing else holds it, about half the cost of an itemgetter per pair.
# Tail keys read their window backwards, so a name's tail ("... martin") and
# another's head ("martin ...") do not share keys by accident.


def index_keys(name: str) -> set[int]:
    """The short-name and head key hashes of a normalised name, as stored and as looked up."""
    size = len(name)
    if size < 5:
        return {hash(name)}
    if size > LONG:  # the common case: only the head's keys, no set to merge into
        return set(map(hash, combinations(name[:PREFIX], _WINDOW)))
    keys = short_keys(name)
    if size == LONG:  # both kinds: 1 edit from a shorter name, 2 from a longer one
        keys.update(map(hash, combinations(name[:PREFIX], _WINDOW)))
    return keys


def tail_keys(name: str) -> set[int]:
    """The tail key hashes of a name of ``LONG`` characters or more."""
    return set(map(hash, combinations(name[: -PREFIX - 1 : -1], _WINDOW)))


def short_keys(name: str) -> set[int]:
    """The name and its single deletions, as strings (never equal to a long name's tuples)."""
    keys = set(map(hash, map("".join, combinations(name, len(name) - 1))))
    keys.add(hash(name))
    return keys


def most_keys(size: int, *, tails: bool) -> int:
    """An upper bound of the keys a name of this length is stored under."""
    if size < 5:
        return 1
    windows = (2 if tails else 1) * HEAD_KEYS
    return (size + 1 if size <= LONG else 0) + (windows if size >= LONG else 0)
