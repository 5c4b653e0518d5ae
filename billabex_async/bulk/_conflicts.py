"""Bulk layer: which writes may touch the same contact, and so must not overlap.

Billabex matches an upsert by email, then by fuzzy name (``_matching``). Two
writes that could land on one contact must reach the server one after the
other, in input order, or concurrency would change the outcome (duplicates,
the wrong final values). ``Scope.admit`` finds, for each new write, the
unsettled earlier ones it must wait for.

Unsettled writes that conflict, directly or through one another, form a
*group*: its keys are every email, contact id and name its writes carried
(the contact an earlier write renamed may still carry the old name when a
later one lands), and its *tail* is its latest write, which waits, directly
or not, for every other one. A new write that matches a group's keys waits
for that tail only, and joins the group (merging the groups it bridges); a
group dissolves when its last write settles. Each key belongs to one live
group, so matching is a dict probe: emails and ids directly; names by
pigeonhole: ``k`` edits leave at least one of a name's ``k + 1`` leading
pieces intact, shifted by at most ``k``, so every name within the distance
shares a piece at a nearby offset, and each candidate is confirmed with
``names_match``. That costs a few probes per name, whatever the window.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Literal

from billabex_async._matching import (
    MAX_NAME_DISTANCE,
    name_threshold,
    names_match,
    normalize_email,
    normalize_name,
)
from billabex_async.errors import BillabexError
from billabex_async.models import Contact, ContactUpsert

__all__ = ["SATURATION", "Op", "Scope"]

# The pieces a name is indexed by, as (length, start), by the name's own
# threshold (``name_threshold``): 2 edits -> three 3-character pieces, 1 edit ->
# two 2-character pieces. Names under 5 characters match only exactly.
_PIECES: list[tuple[int, int]] = [(2, 0), (2, 2), (3, 0), (3, 3), (3, 6)]
_SLOTS = {1: (0, 1), 2: (2, 3, 4)}
_SLOT_THRESHOLD = (1, 1, 2, 2, 2)


Plan = tuple[tuple[slice, ...], tuple[slice, ...]]


def _plan(size: int) -> Plan:
    """For a name of ``size`` characters: the slices it is indexed by, and the ones
    it probes (each piece at every offset its edits can shift it to).

    Only the slots of names that could match are probed: a match is at most
    ``own`` characters longer or shorter, so its own threshold is known. All
    slots share one dict (2- and 3-character pieces never collide): a slice
    probed once finds a piece of any slot, a superset that ``names_match``
    then narrows.
    """
    own = name_threshold("x" * size, "x" * size)
    if own == 0:
        return (), ()
    # Slice objects, built once: cheaper to apply than ``name[start:end]``.
    index = tuple(slice(*_span(slot)) for slot in _SLOTS[own])
    near = {min(MAX_NAME_DISTANCE, other // 5) for other in range(size - own, size + own + 1)}
    probes: dict[tuple[int, int], None] = {}
    for slot, (length, start) in enumerate(_PIECES):
        if _SLOT_THRESHOLD[slot] not in near:
            continue  # no name this slot indexes is within reach of this size
        shift = min(own, _SLOT_THRESHOLD[slot])
        for at in range(max(0, start - shift), min(size - length, start + shift) + 1):
            probes[at, at + length] = None
    return index, tuple(slice(start, end) for start, end in probes)


def _span(slot: int) -> tuple[int, int]:
    length, start = _PIECES[slot]
    return start, start + length


# By name length: what _plan says, computed once per length.
_PLANS: dict[int, Plan] = {}


def _plan_for(size: int) -> Plan:
    plan = _PLANS.get(size)
    if plan is None:
        plan = _PLANS[size] = _plan(size)
    return plan


SATURATION = 4096
"""Keys a scope indexes at most; past that it runs its writes one at a time until drained."""

STALE_PIECES = 256
"""Settled names whose pieces may linger (beyond twice the live ones) before a rebuild."""


class Op:
    """One write scheduled by the engine, with the keys it may conflict on."""

    __slots__ = (
        "account",
        "dependents",
        "emails",
        "group",
        "idempotency_key",
        "ids",
        "index",
        "item",
        "kind",
        "names",
        "run",
        "settled",
        "waits",
    )

    def __init__(
        self,
        index: int,
        account: str,
        item: ContactUpsert,
        run: Callable[[], Coroutine[Any, Any, Contact | None]],
        *,
        kind: Literal["upsert", "delete"] = "upsert",
        emails: Iterable[str | None] = (),
        names: Iterable[str | None] = (),
        ids: Iterable[str] = (),
        idempotency_key: str | None = None,
    ) -> None:
        self.index = index
        self.account = account
        self.item = item
        self.run = run
        self.kind = kind
        # Normalised once, here; tuples (most writes carry one key of each kind).
        # A blank address is no email; a blank name is still a name (matched exactly).
        self.emails = _keys(emails, normalize_email, blank=False)
        self.names = _keys(names, normalize_name, blank=True)
        self.ids = tuple(ids) if isinstance(ids, tuple) else tuple(dict.fromkeys(ids))
        self.idempotency_key = idempotency_key  # what ``run`` sends, for the report
        self.waits = 0  # unsettled earlier ops this one waits for
        self.dependents: list[Op] = []  # later ops waiting for this one
        self.group: _Group | None = None
        self.settled = False


def _keys(
    values: Iterable[str | None], normalize: Callable[[str], str], *, blank: bool
) -> tuple[str, ...]:
    """The normalised strings of ``values``, without repeats (nor blanks unless
    ``blank``), in order.
    """
    if not values:
        return ()
    if type(values) is tuple and len(values) == 1:  # the common case: one key
        value = values[0]
        if not isinstance(value, str):
            return ()
        key = normalize(value)
        return (key,) if key or blank else ()
    keys = [normalize(v) for v in values if isinstance(v, str)]
    return tuple(dict.fromkeys(k for k in keys if k or blank))


class _Group:
    """Unsettled ops that conflict, directly or through each other, and their keys."""

    __slots__ = ("members", "open", "parent", "tail")

    def __init__(self) -> None:
        self.parent: _Group | None = None  # set when merged into a larger group
        self.tail: Op | None = None  # the latest op; it waits for all the others
        self.open = 0  # unsettled ops
        # Its ops, settled or not: every key they carry is indexed to this
        # group (a key held elsewhere made that group merge into this one).
        self.members: list[Op] = []

    def root(self) -> _Group:
        group = self
        while group.parent is not None:
            group = group.parent
        node = self
        while node.parent is not None and node.parent is not group:  # path compression
            node.parent, node = group, node.parent
        return group


class Scope:
    """The unsettled ops of one account, indexed for conflict checks."""

    __slots__ = (
        "answered",
        "by_email",
        "by_id",
        "by_name",
        "by_piece",
        "probe",
        "serial",
        "stale",
        "stopped",
        "wrote",
    )

    def __init__(self) -> None:
        # Key -> the group (maybe merged since: use .root()) holding it.
        self.by_email: dict[str, _Group] = {}
        self.by_id: dict[str, _Group] = {}
        # Normalised name -> its group; piece (of any slot of _PIECES) -> names.
        self.by_name: dict[str, _Group] = {}
        self.by_piece: dict[str, list[str]] = {}
        self.stale = 0  # settled names whose pieces are still indexed
        # Past SATURATION keys, one group holds every unsettled op and each new
        # op waits for its tail: strictly one at a time, nothing indexed.
        self.serial: _Group | None = None
        self.stopped: BillabexError | None = None
        self.wrote = False  # a write succeeded: a later 403 is about one record
        # The account's first op goes alone: if the token or the account is
        # refused, that costs one request, not `concurrency` of them.
        self.probe: Op | None = None
        self.answered = False

    @property
    def keys(self) -> int:
        """Indexed keys, against SATURATION."""
        return len(self.by_email) + len(self.by_id) + len(self.by_name)

    def admit(self, op: Op) -> None:
        group = self.serial
        if group is not None:
            tails = [group.tail] if group.tail is not None and not group.tail.settled else []
        else:
            groups = self._matches(op)
            if not groups:  # the fast path: nothing in flight shares a key with it
                tails, group = [], _Group()
            else:
                tails = [g.tail for g in groups if g.tail is not None and not g.tail.settled]
                group = groups[0] if len(groups) == 1 else self._merge(groups)
            self._index(group, op)
            if self.keys > SATURATION:
                tails += self._saturate(group)
        if not self.answered:
            # Not a conflict (nothing shared with it): only an ordering.
            if self.probe is None:
                self.probe = op
            elif self.probe not in tails:
                tails.append(self.probe)
        group.tail = op
        group.open += 1
        op.group = group
        op.waits = len(tails)
        for dep in tails:
            dep.dependents.append(op)

    def release(self, op: Op) -> list[Op]:
        """Forget a settled op; returns the ops it was the last to hold back."""
        op.settled = True
        if op is self.probe:
            self.probe, self.answered = None, True
        group = op.group
        if group is not None:
            op.group = None
            group = group.root()
            group.open -= 1
            if group.open == 0:
                self._dissolve(group)
        freed = []
        for dep in op.dependents:
            dep.waits -= 1
            if dep.waits == 0 and not dep.settled:  # settled: cut off by a shutdown
                freed.append(dep)
        op.dependents.clear()
        return freed

    def _matches(self, op: Op) -> list[_Group]:
        """The live groups holding a key ``op`` conflicts with (each once)."""
        found: list[_Group] = []
        if op.emails:
            by_email = self.by_email
            for key in op.emails:
                if (owner := by_email.get(key)) is not None and (g := owner.root()) not in found:
                    found.append(g)
        if op.ids:
            by_id = self.by_id
            for key in op.ids:
                if (owner := by_id.get(key)) is not None and (g := owner.root()) not in found:
                    found.append(g)
        by_name = self.by_name
        if not by_name:
            return found  # no name in flight: nothing to probe
        by_piece = self.by_piece
        for name in op.names:
            if (entry := by_name.get(name)) is not None:
                # Held already: a name of another live group matching it
                # would have merged the two when it was added.
                if (g := entry.root()) not in found:
                    found.append(g)
                continue
            # Collect first, confirm after: most probes miss, and a name
            # found through several pieces is compared once.
            candidates: set[str] = set()
            for piece in (_PLANS.get(len(name)) or _plan_for(len(name)))[1]:
                if (hit := by_piece.get(name[piece])) is not None:
                    candidates.update(hit)
            for other in candidates:
                if (owner := by_name.get(other)) is None:
                    continue  # the stale piece of a settled name
                g = owner.root()
                if g not in found and names_match(name, other):
                    found.append(g)
        return found

    def _merge(self, groups: list[_Group]) -> _Group:
        """One group of several: the largest absorbs the others."""
        if len(groups) == 1:
            return groups[0]
        groups.sort(key=lambda g: len(g.members), reverse=True)
        into = groups[0]
        for group in groups[1:]:
            group.parent = into
            into.open += group.open
            into.members += group.members
        return into

    def _saturate(self, group: _Group) -> list[Op]:
        """Merge every live group into ``group`` and stop indexing; returns their tails.

        Reached only when groups never drain (a stream of names each near the
        last): memory stays bounded, and the ops then go one at a time,
        which is trivially what a sequential loop does.
        """
        roots = {owner.root() for owner in self.by_email.values()}
        roots |= {owner.root() for owner in self.by_id.values()}
        roots |= {owner.root() for owner in self.by_name.values()}
        roots.discard(group)
        tails = [g.tail for g in roots if g.tail is not None and not g.tail.settled]
        for other in roots:
            other.parent = group
            group.open += other.open
        self.by_email.clear()
        self.by_id.clear()
        self.by_name.clear()
        self.by_piece.clear()
        group.members = []
        self.stale = 0
        self.serial = group
        return tails

    def _index(self, group: _Group, op: Op) -> None:
        group.members.append(op)
        if op.emails:
            by_email = self.by_email
            for key in op.emails:
                if key not in by_email:
                    by_email[key] = group
        if op.ids:
            by_id = self.by_id
            for key in op.ids:
                if key not in by_id:
                    by_id[key] = group
        by_name = self.by_name
        for name in op.names:
            if name not in by_name:
                by_name[name] = group
                self._index_pieces(name)

    def _index_pieces(self, name: str) -> None:
        by_piece = self.by_piece
        plan = _PLANS.get(len(name)) or _plan_for(len(name))
        for at in plan[0]:
            piece = name[at]
            if (held := by_piece.get(piece)) is None:
                by_piece[piece] = [name]
            else:
                held.append(name)

    def _reindex(self) -> None:
        """Drop the pieces of settled names: rebuilt from the live names only."""
        self.by_piece.clear()
        for name in self.by_name:
            self._index_pieces(name)
        self.stale = 0

    def _dissolve(self, group: _Group) -> None:
        if group is self.serial:
            self.serial = None
            return  # nothing of it is indexed
        by_email, by_id, by_name = self.by_email, self.by_id, self.by_name
        stale = 0
        for member in group.members:
            # pop, not del: two members may carry one key.
            for key in member.emails:
                by_email.pop(key, None)
            for key in member.ids:
                by_id.pop(key, None)
            for name in member.names:
                if by_name.pop(name, None) is not None:
                    stale += 1
        # A settled name's pieces stay until there are many (probes skip
        # them): cheaper than finding and removing each one now.
        self.stale += stale
        if self.stale > STALE_PIECES + 2 * len(by_name):
            self._reindex()
