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
group dissolves when its last write settles. The keys live in a ``KeyIndex``.
"""

from __future__ import annotations

from billabex_async._engine.keys import STALE_PIECES, KeyIndex
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
        tails: list[Op] | tuple[()]
        group = self.serial
        if group is not None:
            tails = [group.tail] if group.tail is not None and not group.tail.settled else ()
        else:
            index = self.index
            groups = index.matches(op) if index.by_name or index.by_email or index.by_id else None
            if groups is None:  # the fast path: nothing in flight shares a key with it
                tails, group = (), Group(op)
            else:
                tails = [g.tail for g in groups if g.tail is not None and not g.tail.settled]
                group = groups[0] if len(groups) == 1 else _merge(groups)
                group.members.append(op)
            index.add(op, group)
            if len(index) > SATURATION:
                tails = [*tails, *self._saturate(group)]
        if not self.answered:
            # Not a conflict (nothing shared with it): only an ordering.
            if self.probe is None:
                self.probe = op
            elif self.probe not in tails:
                tails = [*tails, self.probe]
        group.tail = op
        group.open += 1
        op.group = group
        if tails:
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
            if group.parent is not None:
                group = group.root()
            group.open -= 1
            if group.open == 0:
                if group is self.serial:
                    self.serial = None  # nothing of it is indexed
                else:
                    self.index.drop(group.members)
        dependents = op.dependents
        if not dependents:
            return []
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
        roots = self.index.roots()
        roots.discard(group)
        tails = [g.tail for g in roots if g.tail is not None and not g.tail.settled]
        for other in roots:
            other.parent = group
            group.open += other.open
        self.index.clear()
        group.members = []
        self.serial = group
        return tails


def _merge(groups: list[Group]) -> Group:
    """One group of several: the largest absorbs the others."""
    groups.sort(key=lambda g: len(g.members), reverse=True)
    into = groups[0]
    for group in groups[1:]:
        group.parent = into
        into.open += group.open
        into.members += group.members
    return into
