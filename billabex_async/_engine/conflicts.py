"""Engine layer: which writes may touch the same contact, and so must not overlap.

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
group dissolves when its last write settles. A write that matches nothing
is a group on its own, and no ``Group`` is built for it until another joins
it. The keys live in a ``KeyIndex``.
"""

from __future__ import annotations

from collections.abc import Iterable

from billabex_async._engine.keys import STALE_PIECES, Head, KeyIndex
from billabex_async._engine.op import Group, Op
from billabex_async.errors import BillabexError

__all__ = ["SATURATION", "STALE_PIECES", "Op", "Scope"]

SATURATION = 4096
"""Keys a scope indexes at most; past that it runs its writes one at a time until drained."""


class Scope:
    """The unsettled ops of one account, indexed for conflict checks."""

    __slots__ = ("answered", "index", "probe", "serial", "stopped", "wrote")

    def __init__(self) -> None:
        self.index = KeyIndex()
        # Past SATURATION keys, one group holds every unsettled op and each new
        # op waits for its tail: strictly one at a time, nothing indexed.
        self.serial: Group | None = None
        self.stopped: BillabexError | None = None
        self.wrote = False  # a write succeeded: a later 403 is about one record
        # The account's first op goes alone: if the token or the account is
        # refused, that costs one request, not `concurrency` of them.
        self.probe: Op | None = None
        self.answered = False

    @property
    def keys(self) -> int:
        """Indexed keys, against SATURATION."""
        return len(self.index)

    def admit(self, op: Op) -> None:
        tails: list[Op] | tuple[()] = ()
        group = self.serial
        if group is not None:
            if group.tail is not None and not group.tail.settled:
                tails = [group.tail]
            # Nothing is indexed now, so the group keeps no members: only a count.
            op.group, group.tail = group, op
            group.open += 1
        else:
            index = self.index
            heads = index.matches(op) if index.by_name or index.by_email or index.by_id else None
            if heads is not None:
                tails, group = _gather(heads)
                _join(group, op)
            # else the fast path: nothing in flight shares a key with it; alone
            index.add(op)
            if len(index.by_name) + len(index.by_email) + len(index.by_id) > SATURATION:
                if group is None:
                    _join(group := Group(), op)
                tails = [*tails, *self._saturate(group)]
        if not self.answered:
            # Not a conflict (nothing shared with it): only an ordering.
            if self.probe is None:
                self.probe = op
            elif self.probe not in tails:
                tails = [*tails, self.probe]
        if tails:
            op.waits = len(tails)
            for dep in tails:
                if dep.dependents is None:
                    dep.dependents = [op]
                else:
                    dep.dependents.append(op)

    def release(self, op: Op) -> list[Op] | tuple[()]:
        """Forget a settled op; returns the ops it was the last to hold back."""
        if op.settled:
            return ()  # released already
        op.settled = True
        if op is self.probe:
            self.probe, self.answered = None, True
        group = op.group
        if group is None:
            self.index.drop((op,))  # alone: its group dissolves with it
        else:
            if group.parent is not None:
                group = group.root()
            group.open -= 1
            if group is self.serial:
                op.group = None  # nothing is indexed: no key leads through it
                if group.open == 0:
                    self.serial = group.tail = None
            elif group.open == 0:
                self.index.drop(group.members)
        dependents = op.dependents
        if not dependents:
            return ()
        freed = []
        for dep in dependents:
            dep.waits -= 1
            if dep.waits == 0 and not dep.settled:  # settled: cut off by a shutdown
                freed.append(dep)
        dependents.clear()
        return freed

    def _saturate(self, group: Group) -> list[Op]:
        """Merge every live group into ``group`` and stop indexing; returns their tails.

        Reached only when groups never drain (a stream of names each near the
        last): memory stays bounded, and the ops then go one at a time,
        which is trivially what a sequential loop does.
        """
        heads = self.index.heads()
        heads.discard(group)
        tails, _ = _gather(heads, into=group)
        self.index.clear()
        group.members = []  # nothing indexed: released ops need no list to drop
        self.serial = group
        return tails


def _join(group: Group, op: Op) -> None:
    """``op`` joins ``group`` as its latest write."""
    op.group = group
    group.members.append(op)
    group.tail = op
    group.open += 1


def _gather(heads: Iterable[Head], into: Group | None = None) -> tuple[list[Op], Group]:
    """One group of several live ones (the largest, or ``into``, absorbs the others).

    Returns the tails a write joining them waits for, and that group.
    """
    tails: list[Op] = []
    groups: list[Group] = []
    alone: list[Op] = []
    for h in heads:
        if isinstance(h, Group):
            if h.tail is not None and not h.tail.settled:
                tails.append(h.tail)
            groups.append(h)
        else:
            tails.append(h)  # an op alone is unsettled: a settled one left the index
            alone.append(h)
    if into is None:
        if not groups:
            into = Group()
        else:
            into = max(groups, key=_size)
            if len(groups) == 1 and not alone:
                return tails, into  # the common conflict: one group
    for group in groups:
        if group is not into:
            group.parent = into
            into.open += group.open
            into.members += group.members
            group.members = []  # the root holds them now
    for op in alone:
        op.group = into
        into.members.append(op)
        into.open += 1
    return tails, into


def _size(group: Group) -> int:
    return len(group.members)
