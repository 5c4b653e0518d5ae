"""Base layer: one open-addressing table of name-key hashes, for ``DeletionIndex``.

Keys are stored as a one-byte fingerprint and a slot per cell, in two flat
arrays (5 bytes a cell, no Python object per key): a dict of strings would
cost ~100 bytes a key, ~5 KB a contact. A probe run is walked cell by cell
up to the first empty one (runs are a cell or two long at this load, and a
loop over them costs a third less than two ``bytearray.find`` calls); the
last cell is always empty, so no walk needs a bound. A key many names
share (thousands of "Christopher ..." share every head key) keeps only its
first ``CROWD`` entries in the table and the rest in a plain array beside it,
so an add never walks a long probe run.
"""

from __future__ import annotations

import sys
from array import array

__all__ = ["CROWD", "LOAD", "Table"]

CROWD = 16
"""Entries one key keeps in the table; more go to the key's overflow array.

Bounds the probe run an add walks, and the entries a lookup reads for an
uncrowded key. Random names almost never reach it.
"""

LOAD = 0.6
"""A table grows when this full: linear probing slows down past it."""
# A cell's fingerprint is hash bits the position does not use (the top byte),
# 0 meaning an empty cell: it rules out almost every foreign key in a probe run
# before any string is compared. Runs never wrap around: one that reaches the
# last cell goes on in cells appended past it (rare, and a handful at most),
# and one more empty cell is appended, so the last cell stays empty.
_FP_SHIFT = 56


class Table:
    """One open-addressing table of key entries, its crowded keys' overflow, and how full it is."""

    __slots__ = ("fps", "limit", "mask", "over", "slots", "tails", "used")

    def __init__(self, capacity: int, *, tails: bool) -> None:
        # Zeroed: every cell empty; one past the home cells, empty for good.
        self.fps = bytearray(capacity + 1)
        self.slots = array("I", bytes(4 * (capacity + 1)))
        self.mask = capacity - 1
        self.limit = int(capacity * LOAD)
        self.used = 0  # keys in the table or reserved for it, removed names' included
        # A crowded key's hash -> the slots past its first CROWD entries. A key
        # is here only once CROWD entries with its fingerprint sit in its probe
        # run; entries never leave a table, so a lookup that meets fewer knows
        # the key has no overflow without asking.
        self.over: dict[int, array[int]] = {}
        self.tails = tails  # whether its long names carry tail keys too

    def insert(self, slot: int, keys: set[int]) -> None:
        fps, slots, mask, over = self.fps, self.slots, self.mask, self.over
        crowd = CROWD  # read here: tests lower it
        last = len(fps) - 1
        for key in keys:
            if over:  # a crowded key's run need not be walked again
                crowded = over.get(key)
                if crowded is not None:
                    crowded.append(slot)
                    continue
            fingerprint = (key >> _FP_SHIFT & 0xFF) or 1
            cell = key & mask
            if fps[cell]:
                end = cell + 1
                while fps[end]:
                    end += 1
                # A run shorter than CROWD cannot hold CROWD entries: no count.
                if end - cell >= crowd and fps.count(fingerprint, cell, end) >= crowd:
                    # The key's CROWD-th entry (or a foreign key's sharing its
                    # fingerprint): it is crowded from now on.
                    over[key] = array("I", [slot])
                    continue
                if end == last:  # the last cell: keep an empty one past it
                    fps.append(0)
                    slots.append(0)
                    last += 1
                cell = end
            fps[cell] = fingerprint
            slots[cell] = slot

    def crowd(self, keys: set[int]) -> int:
        """How many entries these keys hold past their first ``CROWD`` each."""
        over = self.over
        if not over:
            return 0
        return sum(len(over[key]) for key in keys if key in over)

    def collect(self, keys: set[int], found: set[int]) -> None:
        """Add to ``found`` the slot of every entry whose key may be one of ``keys``."""
        fps, slots, mask, over = self.fps, self.slots, self.mask, self.over
        for key in keys:
            cell = key & mask
            held = fps[cell]
            if held:
                fingerprint = (key >> _FP_SHIFT & 0xFF) or 1
                while held:
                    if held == fingerprint:
                        found.add(slots[cell])
                    cell += 1
                    held = fps[cell]
            if over:
                crowded = over.get(key)
                if crowded is not None:
                    found.update(crowded)

    def nbytes(self) -> int:
        crowds = sum(sys.getsizeof(crowd) for crowd in self.over.values())
        cells = len(self.fps) * (1 + self.slots.itemsize)
        return cells + crowds + sys.getsizeof(self.over)
