"""Base layer: one open-addressing table of name-key hashes, for ``DeletionIndex``.

Keys are stored as hashes in one flat ``array`` with open addressing (4 bytes
a key, no Python object per key): a dict of strings would cost ~100 bytes a
key, ~5 KB a contact. A key many names share (thousands of "Christopher ..."
share every head key) keeps only its first ``CROWD`` entries in the table and
the rest in a plain array beside it, so an add never walks a long probe run.
"""

from __future__ import annotations

import sys
from array import array

__all__ = ["CROWD", "LOAD", "NARROW", "Table"]

CROWD = 16
"""Entries one key keeps in the table; more go to the key's overflow array.

Bounds the probe run an add walks, and the entries a lookup reads for an
uncrowded key. Random names almost never reach it.
"""

LOAD = 0.6
"""A table grows when this full: linear probing slows down past it."""
# Entry layouts: (array typecode, slot bits, fingerprint shift, fingerprint mask).
# An entry is ``fingerprint << slot_bits | slot + 1`` (0 is an empty cell); the
# fingerprint, taken from hash bits the position does not use, rules out
# almost every foreign key in a probe run before any string is compared.
NARROW = ("I", 24, 56, 0xFF)
WIDE = ("Q", 32, 32, 0xFFFFFFFF)


class Table:
    """One open-addressing table of key entries, its crowded keys' overflow, and how full it is."""

    __slots__ = (
        "cells",
        "fp_mask",
        "fp_shift",
        "limit",
        "mask",
        "over",
        "slot_bits",
        "tails",
        "used",
    )

    def __init__(self, capacity: int, *, wide: bool, tails: bool) -> None:
        code, self.slot_bits, self.fp_shift, self.fp_mask = WIDE if wide else NARROW
        self.cells = array(code, [0]) * capacity  # zeroed: every cell empty
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
        cells, mask, slot_bits = self.cells, self.mask, self.slot_bits
        fp_shift, fp_mask = self.fp_shift, self.fp_mask
        over = self.over
        tail = slot + 1
        for key in keys:
            if over:  # a crowded key's run need not be walked again
                crowd = over.get(key)
                if crowd is not None:
                    crowd.append(slot)
                    continue
            fingerprint = (key >> fp_shift) & fp_mask
            cell = key & mask
            entry = cells[cell]
            seen = 0
            while entry:
                if entry >> slot_bits == fingerprint:
                    seen += 1
                    if seen == CROWD:
                        break
                cell = (cell + 1) & mask
                entry = cells[cell]
            if entry:  # the key's CROWD-th entry: it is crowded from now on
                over[key] = array("I", [slot])
            else:
                cells[cell] = fingerprint << slot_bits | tail

    def crowd(self, keys: set[int]) -> int:
        """How many entries these keys hold past their first ``CROWD`` each."""
        over = self.over
        if not over:
            return 0
        return sum(len(over[key]) for key in keys if key in over)

    def collect(self, keys: set[int], found: set[int]) -> None:
        """Add to ``found`` the slot of every entry whose key may be one of ``keys``."""
        cells, mask, slot_bits = self.cells, self.mask, self.slot_bits
        fp_shift, fp_mask = self.fp_shift, self.fp_mask
        slot_mask = (1 << slot_bits) - 1
        over = self.over
        for key in keys:
            fingerprint = (key >> fp_shift) & fp_mask
            cell = key & mask
            entry = cells[cell]
            while entry:
                if entry >> slot_bits == fingerprint:
                    found.add((entry & slot_mask) - 1)
                cell = (cell + 1) & mask
                entry = cells[cell]
            if over:
                crowd = over.get(key)
                if crowd is not None:
                    found.update(crowd)

    def nbytes(self) -> int:
        crowds = sum(sys.getsizeof(crowd) for crowd in self.over.values())
        return len(self.cells) * self.cells.itemsize + crowds + sys.getsizeof(self.over)
