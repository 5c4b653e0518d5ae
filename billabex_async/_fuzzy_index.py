"""Base layer: the names within the matching rule's edit distance, in microseconds at any size.

A deletion-neighbourhood index (symmetric delete, as in SymSpell). Two
strings within ``k`` edits share a string reachable from each by at most
``k`` deletions, so every normalised name is stored under a few such
"keys", a query computes its own, and the names sharing one are the only
candidates; the exact distance (rapidfuzz) then decides. The keys follow the
threshold ``min(2, shorter length // 5)``:

- under 5 characters a name matches only exactly: its key is itself;
- 5 to 10 characters (a pair whose shorter name has 5-9 tolerates 1 edit):
  the name and its single deletions;
- 10 characters or more (2 edits between two such names): the first
  ``PREFIX`` characters with exactly two deleted. Two names within 2 edits
  keep a common subsequence after at most 2 deletions each, so their
  prefixes, cut down to ``PREFIX - 2``, agree: 28 keys however long the name.

Keys are stored as hashes in one flat ``array`` with open addressing (4 bytes
a key, no Python object per key): a dict of strings would cost ~100 bytes a
key, ~5 KB a contact. Removal is lazy: a removed name's keys stay until the
next rebuild, and candidates are always checked against the current names.
"""

from __future__ import annotations

import itertools
from array import array
from operator import itemgetter

from rapidfuzz.distance import Levenshtein

__all__ = ["PREFIX", "DeletionIndex", "index_keys"]

PREFIX = 8
"""Characters of a long name its keys are taken from (at most the shortest long name).

Measured: 8 (28 keys) looks up ~2.5x faster than 10 (45 keys) and takes less
memory; a longer prefix only sorts out more candidates before the exact check.
"""
_LONG = 10
"""Names this long or longer tolerate 2 edits between them."""
# The prefix with two characters deleted, as tuples of characters: an
# itemgetter per pair of positions beats slicing and concatenating strings.
_TWO_DELETED = [
    itemgetter(*(k for k in range(PREFIX) if k not in pair))
    for pair in itertools.combinations(range(PREFIX), 2)
]

# Key hashes of long names are salted so that they never share a bucket with
# a short name's key that happens to be the same string.
_LONG_SALT = 0x5BD1E9955BD1E995
_LOAD = 0.6
"""Rebuild when the table is this full: linear probing slows down past it."""
_HEADROOM = 0.45
"""A rebuilt table is at most this full, so a rebuild is followed by many cheap adds."""
_MIN_CAPACITY = 1 << 10
# Entry layouts: (array typecode, slot bits, fingerprint shift, fingerprint mask).
# An entry is ``fingerprint << slot_bits | slot + 1`` (0 is an empty cell); the
# fingerprint, taken from hash bits the position does not use, rules out
# almost every foreign key in a probe run before any string is compared.
_NARROW = ("I", 24, 56, 0xFF)
_WIDE = ("Q", 32, 32, 0xFFFFFFFF)


def index_keys(name: str) -> set[int]:
    """The key hashes of a normalised name, as stored and as looked up."""
    size = len(name)
    if size < 5:
        return {hash(name)}
    keys: set[int] = set()
    if size <= _LONG:
        keys = {hash(name[:i] + name[i + 1 :]) for i in range(size)}
        keys.add(hash(name))
    if size >= _LONG:
        head = name[:PREFIX]
        keys.update(hash(pick(head)) ^ _LONG_SALT for pick in _TWO_DELETED)
    return keys


def _limit(a: int, b: int) -> int:
    return min(2, min(a, b) // 5)


class DeletionIndex:
    """Normalised names in numbered slots; ``matches`` finds those within the rule's distance.

    >>> index = DeletionIndex()
    >>> slot = index.add("jonathan smith")
    >>> index.matches("jonathan smyth"), index.matches("jon smith")
    ([(1, 0)], [])
    """

    __slots__ = (
        "_counts",
        "_free",
        "_layout",
        "_limit_used",
        "_live",
        "_mask",
        "_names",
        "_table",
        "_used",
    )

    def __init__(self) -> None:
        # slot -> its name, None once removed; removed slots are reused.
        self._names: list[str | None] = []
        # slot -> how many keys its name has (at most 28 + 11), to count the dead ones.
        self._counts = array("B")
        self._free: list[int] = []
        self._live = 0  # keys of the current names
        self._used = 0  # keys in the table, the removed names' included
        self._layout = _NARROW
        self._table = array("I")
        self._mask = 0
        self._limit_used = 0
        self._rebuild()

    def __len__(self) -> int:
        return len(self._names) - len(self._free)

    def __repr__(self) -> str:
        return (
            f"<DeletionIndex names={len(self)} keys={self._live} "
            f"cells={len(self._table)} bytes={self.nbytes}>"
        )

    @property
    def nbytes(self) -> int:
        """Memory held by the key table and the slot list (not the name strings)."""
        return len(self._table) * self._table.itemsize + 9 * len(self._names) + 8 * len(self._free)

    def name(self, slot: int) -> str | None:
        return self._names[slot]

    def add(self, name: str) -> int:
        """Store a normalised name; returns its slot."""
        keys = index_keys(name)
        if self._free:
            slot = self._free.pop()
            self._names[slot] = name
            self._counts[slot] = len(keys)
        else:
            slot = len(self._names)
            self._names.append(name)
            self._counts.append(len(keys))
        self._live += len(keys)
        if self._used + len(keys) > self._limit_used or slot + 1 >= 1 << self._layout[1]:
            self._rebuild()
            return slot
        self._insert(slot, keys)
        return slot

    def remove(self, slot: int) -> None:
        """Forget the name in ``slot`` (its keys go at the next rebuild)."""
        assert self._names[slot] is not None
        self._names[slot] = None
        self._free.append(slot)
        self._live -= self._counts[slot]

    def matches(self, wanted: str) -> list[tuple[int, int]]:
        """``(distance, slot)`` of every stored name that matches ``wanted`` (normalised)."""
        _, slot_bits, fp_shift, fp_mask = self._layout
        table, mask = self._table, self._mask
        slot_mask = (1 << slot_bits) - 1
        found: set[int] = set()
        for key in index_keys(wanted):
            fingerprint = (key >> fp_shift) & fp_mask
            cell = key & mask
            entry = table[cell]
            while entry:
                if entry >> slot_bits == fingerprint:
                    found.add((entry & slot_mask) - 1)
                cell = (cell + 1) & mask
                entry = table[cell]
        size = len(wanted)
        names = self._names
        hits: list[tuple[int, int]] = []
        for slot in found:
            name = names[slot]
            if name is None:
                continue
            limit = _limit(size, len(name))
            if abs(size - len(name)) > limit:
                continue
            distance = Levenshtein.distance(wanted, name, score_cutoff=limit)
            if distance <= limit:
                hits.append((distance, slot))
        return hits

    def _insert(self, slot: int, keys: set[int]) -> None:
        _, slot_bits, fp_shift, fp_mask = self._layout
        table, mask = self._table, self._mask
        tail = slot + 1
        for key in keys:
            cell = key & mask
            while table[cell]:
                cell = (cell + 1) & mask
            table[cell] = ((key >> fp_shift) & fp_mask) << slot_bits | tail
        self._used += len(keys)

    def _rebuild(self) -> None:
        """A new table for the current names: larger, or rid of removed names' keys."""
        capacity = _MIN_CAPACITY
        while self._live > capacity * _HEADROOM:
            capacity *= 2
        if len(self._names) + 1 >= 1 << _NARROW[1]:
            self._layout = _WIDE
        self._table = array(self._layout[0], bytes(capacity * array(self._layout[0]).itemsize))
        self._mask = capacity - 1
        self._limit_used = int(capacity * _LOAD)
        self._used = 0
        for slot, name in enumerate(self._names):
            if name is not None:
                self._insert(slot, index_keys(name))
