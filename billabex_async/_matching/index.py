"""Base layer: the names within the matching rule's edit distance, in microseconds at any size.

A deletion-neighbourhood index: every normalised name is stored under a few
deletion ``keys`` (``keys``), a query computes its own, and the names
sharing one are the only candidates; the exact distance (rapidfuzz) then
decides. Once any key is crowded (``table``) the table grows into one where
long names also carry their 28 tail keys (random names hardly ever crowd a
key, so they do not pay for them), and a lookup whose head keys are crowded
reads the tail keys instead, whichever lists fewer names: either kind alone
finds every match. Removal is lazy: a removed name's keys stay until the
table next grows, and candidates are always checked against the current names.

Growth is incremental: a full table hands over to a larger one, and each
later ``add`` moves a few names across (lookups ask both meanwhile), so no
single ``add`` re-keys the whole index (at 100k names that took seconds).
A ``deferred`` index (the planner's) keys names only when a fuzzy lookup
first needs them, then all at once into a table of the right size: a sync
whose names all match exactly never keys a name.
"""

from __future__ import annotations

from array import array

from rapidfuzz.distance import Levenshtein

from billabex_async._matching.keys import LONG, index_keys, most_keys, short_keys, tail_keys
from billabex_async._matching.rules import threshold
from billabex_async._matching.table import Table

__all__ = ["MOVE_EVERY_ADD", "DeletionIndex"]

_HEADROOM = 0.45
"""A new table is at most this full with the names it takes over, so many cheap adds follow."""
_MIN_CAPACITY = 1 << 10
MOVE_EVERY_ADD = 2
"""Names moved to the new table per ``add`` while a growth is under way, at least.

A new table takes over its names' keys at most ``_HEADROOM`` full and grows
again at ``LOAD``. The room between usually holds as many keys as are moved,
and the pace is set at each growth so the move finishes by the time half that
room is used (``_pace``): 2 names per add when removals left no gap, more when
they did, so a growth rarely has to finish its predecessor in one add. The total
work is the same at any pace; 2 rather than a fixed 4 lowers what one add pays
during a growth (measured at 100k names: ~105 against ~135 µs per new-email
lookup and add), though lookups read both tables for longer.
"""


class DeletionIndex:
    """Normalised names in numbered slots; ``matches`` finds those within the rule's distance.

    ``deferred=True`` keys the names added only at the next ``matches``
    (for a bulk load followed by lookups); by default every ``add`` keys its
    name at once, in bounded time.

    >>> index = DeletionIndex()
    >>> slot = index.add("jonathan smith")
    >>> index.matches("jonathan smyth"), index.matches("jon smith")
    ([(1, 0)], [])
    """

    __slots__ = (
        "_counts",
        "_deferred",
        "_free",
        "_last",
        "_live",
        "_moved",
        "_names",
        "_old",
        "_old_end",
        "_pace",
        "_pending",
        "_settled",
        "_sized",
        "_skip",
        "_table",
    )

    def __init__(self, *, deferred: bool = False) -> None:
        # slot -> its name, None once removed; removed slots are reused.
        self._names: list[str | None] = []
        # slot -> how many keys of its name are in the tables (at most 11 + 28 + 28);
        # 0 while not keyed yet (deferred) or removed.
        self._counts = array("B")
        self._free: list[int] = []
        self._live = 0  # keys of the current names
        self._deferred = deferred
        self._pending: list[int] = []  # deferred: slots added since the last lookup
        self._settled = 0  # how many of them are keyed
        self._sized = False  # whether the table was sized for them
        self._last: tuple[str, set[int]] = ("", set())  # the last lookup's keys, for its add
        self._table = Table(_MIN_CAPACITY, tails=False)
        # A growth under way: the previous table, the slots it covers, how many moved.
        self._old: Table | None = None
        self._old_end = 0
        self._moved = 0
        self._pace = MOVE_EVERY_ADD  # names moved per add during this growth
        self._skip: set[int] = set()  # slots below _old_end keyed into the new table already

    def __len__(self) -> int:
        return len(self._names) - len(self._free)

    def __repr__(self) -> str:
        return (
            f"<DeletionIndex names={len(self)} keys={self._live} "
            f"cells={len(self._table.fps)} bytes={self.nbytes}>"
        )

    @property
    def nbytes(self) -> int:
        """Memory held by the key tables and the slot list (not the name strings)."""
        tables = [self._table] if self._old is None else [self._table, self._old]
        slots = 9 * len(self._names) + 8 * (len(self._free) + len(self._pending))
        return sum(t.nbytes() for t in tables) + slots

    def name(self, slot: int) -> str | None:
        return self._names[slot]

    def add(self, name: str) -> int:
        """Store a normalised name; returns its slot."""
        if self._free:
            slot = self._free.pop()
            self._names[slot] = name
        else:
            slot = len(self._names)
            self._names.append(name)
            self._counts.append(0)
        if self._deferred:
            self._pending.append(slot)
        else:
            # The simulator looks a new name up, then adds it: its keys are at hand.
            last_name, last_keys = self._last
            self._key(slot, name, last_keys if name == last_name else None)
            self._move(self._pace)
        return slot

    def remove(self, slot: int) -> None:
        """Forget the name in ``slot`` (its keys go when the table next grows)."""
        assert self._names[slot] is not None
        self._names[slot] = None
        self._free.append(slot)
        self._live -= self._counts[slot]
        self._counts[slot] = 0

    def matches(self, wanted: str) -> list[tuple[int, int]]:
        """``(distance, slot)`` of every stored name that matches ``wanted`` (normalised)."""
        if self._pending:
            self.settle()
        keys = index_keys(wanted)
        self._last = (wanted, keys)
        size = len(wanted)
        found: set[int] = set()
        tail: set[int] | None = None
        for table in (self._table,) if self._old is None else (self._table, self._old):
            # Every match shares a head key and a tail key, so either kind, read
            # in full, finds them all: the head, unless its keys are crowded.
            crowd = table.crowd(keys) if table.tails and size >= LONG else 0
            if crowd:
                tail = tail_keys(wanted) if tail is None else tail
                if table.crowd(tail) < crowd:
                    table.collect(tail, found)
                    if size == LONG:  # a 10-character name's 1-edit keys are read in full too
                        table.collect(short_keys(wanted), found)
                    continue
            table.collect(keys, found)
        names = self._names
        hits: list[tuple[int, int]] = []
        for slot in found:
            name = names[slot]
            if name is None:
                continue
            limit = threshold(size, len(name))
            if abs(size - len(name)) > limit:
                continue
            distance = Levenshtein.distance(wanted, name, score_cutoff=limit)
            if distance <= limit:
                hits.append((distance, slot))
        return hits

    def _key(self, slot: int, name: str, keys: set[int] | None = None) -> None:
        """Put a name's keys (``index_keys``, given or not) in the current table, growing it first.

        A table grows when full, and also once a key is crowded, into one
        whose long names carry tail keys too.
        """
        table = self._table
        most = most_keys(len(name), tails=table.tails)
        if table.used + most > table.limit or (table.over and not table.tails):
            self._grow()
            table = self._table
        keys = index_keys(name) if keys is None else keys
        if table.tails and len(name) >= LONG:
            keys = keys | tail_keys(name)
        if self._old is not None and slot < self._old_end:
            self._skip.add(slot)  # a reused slot: moving it later would key it twice
        table.insert(slot, keys)
        table.used += len(keys)
        self._counts[slot] = len(keys)
        self._live += len(keys)

    def _new_table(self, keys: int) -> Table:
        capacity = _MIN_CAPACITY
        while keys > capacity * _HEADROOM:
            capacity *= 2
        # Tail keys once any key is crowded: names with a long shared start are
        # there to stay, and random names never pay for the second kind.
        tails = self._table.tails or bool(self._table.over)
        return Table(capacity, tails=tails)

    def _grow(self) -> None:
        """Start handing the names over to a larger table (or one rid of removed names' keys)."""
        if self._old is not None:  # the previous growth is not done: finish it first
            self._move(self._old_end)
        self._old, self._old_end, self._moved = self._table, len(self._names), 0
        # Reserved for the keys still to move, so the table never fills up
        # meanwhile: twice the count when they gain tail keys (at most 28 more
        # to a name with 28 head keys).
        # A table gaining tail keys is also twice as large as the one it
        # replaces, which a deferred index sized for all its names.
        old = self._old
        gains = old.over and not old.tails
        reserve = 2 * self._live if gains else self._live
        table = self._new_table(int(2 * (old.mask + 1) * _HEADROOM) if gains else reserve)
        table.used = reserve
        self._table = table
        # Keys to move against the room the adds meanwhile may take: done at half of it.
        room = max(table.limit - reserve, 1)
        self._pace = max(MOVE_EVERY_ADD, -(-2 * reserve // room))

    def _move(self, count: int) -> None:
        """Key up to ``count`` more slots of the previous table into the current one."""
        if self._old is None:
            return
        end = min(self._old_end, self._moved + count)
        names, table, skip, counts = self._names, self._table, self._skip, self._counts
        tails, gained = table.tails, table.tails and not self._old.tails
        for slot in range(self._moved, end):
            name = names[slot]
            if name is None or not counts[slot] or slot in skip:
                continue  # removed, not keyed yet (deferred), or keyed into this table already
            keys = index_keys(name)
            if tails and len(name) >= LONG:
                keys |= tail_keys(name)
                if gained:  # reserved by ``_grow``, but counted from now on
                    self._live += len(keys) - counts[slot]
                    counts[slot] = len(keys)
            table.insert(slot, keys)  # already counted in ``used``
        self._moved = end
        if end == self._old_end:
            self._old, self._skip = None, set()

    def settle(self, most: int | None = None) -> bool:
        """Key up to ``most`` (None: all) of the names still to key; True when none is left.

        Only a deferred index has any: ``matches`` keys them all first, a
        caller that must not block that long keys them in slices beforehand.
        """
        if not self._sized:
            self._size_for_pending()
        pending, names, counts = self._pending, self._names, self._counts
        last_name, last_keys = self._last
        end = len(pending) if most is None else min(len(pending), self._settled + most)
        for at in range(self._settled, end):
            slot = pending[at]
            name = names[slot]
            if name is None or counts[slot]:
                continue  # removed since, or keyed already (a slot reused twice)
            self._key(slot, name, last_keys if name == last_name else None)
            self._move(self._pace)
        self._settled = end
        if end < len(pending):
            return False
        self._pending, self._settled, self._sized = [], 0, False
        return True

    def _size_for_pending(self) -> None:
        names, counts = self._names, self._counts
        tails = self._table.tails
        expected = sum(
            most_keys(len(names[s] or ""), tails=tails) for s in self._pending if not counts[s]
        )
        table = self._table
        if self._old is None and table.used + expected > table.limit:
            # Most names are new (a bulk load): one table of the final size,
            # every current name keyed once, rather than growth after growth.
            self._table = self._new_table(self._live + expected)
            self._pending = [s for s, n in enumerate(names) if n is not None]
            self._counts = array("B", bytes(len(names)))
            self._live = 0
        self._sized = True
