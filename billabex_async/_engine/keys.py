"""Engine layer: the in-flight key index, which live conflict group holds each key.

Each key is indexed to the op that first carried it, and so belongs to that
op's live group (the op alone, or the ``Group`` it joined): matching is a
dict probe: emails and ids directly; names by pigeonhole: a name within the
distance keeps one of a few pieces of the other in a known place (below),
and each candidate is confirmed with ``names_match``. That costs at most
seven probes per name, whatever the window.
"""

from __future__ import annotations

from collections.abc import Iterable

from billabex_async._engine.op import Group, Op
from billabex_async._matching import MAX_NAME_DISTANCE, normalized_names_match

__all__ = ["STALE_PIECES", "Head", "KeyIndex", "head"]

# Names are indexed by pieces at fixed places (pigeonhole, Pass-Join's
# segment argument): a pair within 2 edits (both names >= 10 characters)
# keeps, of the cuts ``head | middle | tail`` of the indexed name, either its
# head in place (no edit before it), its tail in place, or (one edit on each
# side) its middle, shifted by at most one; so the new name probes its own
# head, its tail and the middle's first piece at three offsets: five
# probes. Within 1 edit (the shorter name 5-9 characters): head or tail, in
# place, two probes. Names of 10 characters take part in both.
_WIDE = 10  # a name this long may be 2 edits from a match (``name_threshold``)
_NARROW = 5  # shorter names match only exactly
assert MAX_NAME_DISTANCE == 2, "the pieces above cover 2 edits"

STALE_PIECES = 256
"""Settled names whose pieces may linger (beyond twice the live ones) before a rebuild."""

Head = Group | Op
"""A live group: a ``Group`` root, or an unsettled op alone (its own group)."""


def head(holder: Op) -> Head:
    """The live group of the op a key is indexed to."""
    group = holder.group
    return holder if group is None else group.root()


class KeyIndex:
    """Every email, contact id and name the live groups of one scope carry."""

    __slots__ = ("by_email", "by_head", "by_id", "by_mid", "by_name", "by_tail", "stale")

    def __init__(self) -> None:
        # Key -> the op that first carried it (its group: ``head``).
        self.by_email: dict[str, Op] = {}
        self.by_id: dict[str, Op] = {}
        # Normalised name -> its op; a piece (2 or 3 characters, which
        # never collide) of a name's head, middle or tail -> the names.
        self.by_name: dict[str, Op] = {}
        self.by_head: dict[str, list[str]] = {}
        self.by_mid: dict[str, list[str]] = {}
        self.by_tail: dict[str, list[str]] = {}
        self.stale = 0  # settled names whose pieces are still indexed

    def __len__(self) -> int:
        return len(self.by_email) + len(self.by_id) + len(self.by_name)

    def add(self, op: Op) -> None:
        """Index ``op``'s keys (a key held already stays with its holder: they are one group)."""
        by_email, by_name = self.by_email, self.by_name
        for key in op.emails:
            if key not in by_email:
                by_email[key] = op
        if op.ids:
            by_id = self.by_id
            for key in op.ids:
                if key not in by_id:
                    by_id[key] = op
        for name in op.names:
            if name not in by_name:
                by_name[name] = op
                if len(name) >= _NARROW:
                    self._index_pieces(name)

    def matches(self, op: Op) -> list[Head] | None:
        """The live groups holding a key ``op`` conflicts with (each once), or None."""
        found: list[Head] | None = None
        if op.emails:
            by_email = self.by_email
            for key in op.emails:
                if (holder := by_email.get(key)) is not None:
                    g = head(holder)
                    if found is None:
                        found = [g]
                    elif g not in found:
                        found.append(g)
        if op.ids:
            by_id = self.by_id
            for key in op.ids:
                if (holder := by_id.get(key)) is not None:
                    g = head(holder)
                    if found is None:
                        found = [g]
                    elif g not in found:
                        found.append(g)
        by_name = self.by_name
        if not by_name:
            return found  # no name in flight: nothing to probe
        head_pieces, mid, tail = self.by_head, self.by_mid, self.by_tail
        for name in op.names:
            if (holder := by_name.get(name)) is not None:
                # Held already: a name of another live group matching it
                # would have merged the two when it was added.
                g = head(holder)
                if found is None:
                    found = [g]
                elif g not in found:
                    found.append(g)
                continue
            size = len(name)
            # Most probes miss: ``in`` tests first (no call), the lists after.
            if not (
                size >= _WIDE
                and (
                    name[:3] in head_pieces
                    or name[2:5] in mid
                    or name[3:6] in mid
                    or name[4:7] in mid
                    or name[-3:] in tail
                )
            ) and not (_NARROW <= size <= _WIDE and (name[:2] in head_pieces or name[-2:] in tail)):
                continue
            hits = self._probe(name)
            candidates = hits[0] if len(hits) == 1 else set().union(*hits)
            for other in candidates:
                if (holder := by_name.get(other)) is None:
                    continue  # the stale piece of a settled name
                g = head(holder)
                if (found is None or g not in found) and normalized_names_match(name, other):
                    if found is None:
                        found = [g]
                    else:
                        found.append(g)
        return found

    def _probe(self, name: str) -> list[list[str]]:
        """The indexed names sharing a piece with ``name`` where a match would keep one."""
        size = len(name)
        head, mid, tail = self.by_head, self.by_mid, self.by_tail
        places: list[tuple[dict[str, list[str]], str]] = []
        if size >= _WIDE:
            places += (
                (head, name[:3]),
                (mid, name[2:5]),
                (mid, name[3:6]),
                (mid, name[4:7]),
                (tail, name[-3:]),
            )
        if _NARROW <= size <= _WIDE:
            places += ((head, name[:2]), (tail, name[-2:]))
        return [index[piece] for index, piece in places if piece in index]

    def drop(self, ops: Iterable[Op]) -> None:
        """Forget the keys of a dissolved group's ops (and the group, on each op)."""
        by_email, by_id, by_name = self.by_email, self.by_id, self.by_name
        stale = 0
        for member in ops:
            member.group = None  # no cycle left between the ops and their group
            # pop, not del: two members may carry one key.
            for key in member.emails:
                by_email.pop(key, None)
            if member.ids:
                for key in member.ids:
                    by_id.pop(key, None)
            for name in member.names:
                if by_name.pop(name, None) is not None:
                    stale += 1
        if stale:
            self._stale(stale)

    def _stale(self, settled: int) -> None:
        # A settled name's pieces stay until there are many (probes skip
        # them): cheaper than finding and removing each one now.
        self.stale += settled
        if self.stale > STALE_PIECES + 2 * len(self.by_name):
            self._reindex()

    def heads(self) -> set[Head]:
        """Every live group holding a key."""
        holders = [*self.by_email.values(), *self.by_id.values(), *self.by_name.values()]
        return {head(holder) for holder in holders}

    def clear(self) -> None:
        self.by_email.clear()
        self.by_id.clear()
        self.by_name.clear()
        self._clear_pieces()

    def _clear_pieces(self) -> None:
        self.by_head.clear()
        self.by_mid.clear()
        self.by_tail.clear()
        self.stale = 0

    def _reindex(self) -> None:
        """Drop the pieces of settled names: rebuilt from the live names only."""
        self._clear_pieces()
        for name in self.by_name:
            if len(name) >= _NARROW:
                self._index_pieces(name)

    def _index_pieces(self, name: str) -> None:
        """Index a live name's pieces (see _WIDE); setdefault: one C call per piece."""
        size = len(name)
        if size <= _WIDE:
            self.by_head.setdefault(name[:2], []).append(name)
            self.by_tail.setdefault(name[-2:], []).append(name)
        if size >= _WIDE:
            self.by_head.setdefault(name[:3], []).append(name)
            self.by_mid.setdefault(name[3:6], []).append(name)
            self.by_tail.setdefault(name[-3:], []).append(name)
