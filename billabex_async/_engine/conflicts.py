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
group dissolves when its last write settles. Each key belongs to one live
group, so matching is a dict probe: emails and ids directly; names by
pigeonhole: a name within the distance keeps one of a few pieces of the
other in a known place (below), and each candidate is confirmed with
``names_match``. That costs at most seven probes per name, whatever the window.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Literal

from billabex_async._matching import (
    MAX_NAME_DISTANCE,
    names_match,
    normalize_email,
    normalize_name,
)
from billabex_async.errors import BillabexError
from billabex_async.models import Contact, ContactUpsert

__all__ = ["SATURATION", "Op", "Scope"]

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
        # The common case, one key of each kind, inline.
        self.emails: tuple[str, ...]
        self.names: tuple[str, ...]
        if type(emails) is tuple and len(emails) == 1 and type(email := emails[0]) is str:
            self.emails = (key,) if (key := normalize_email(email)) else ()
        else:
            self.emails = _keys(emails, normalize_email, blank=False)
        if type(names) is tuple and len(names) == 1 and type(name := names[0]) is str:
            self.names = (normalize_name(name),)
        else:
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

    def __init__(self, first: Op) -> None:
        self.parent: _Group | None = None  # set when merged into a larger group
        self.tail: Op | None = None  # the latest op; it waits for all the others
        self.open = 0  # unsettled ops
        # Its ops, settled or not: every key they carry is indexed to this
        # group (a key held elsewhere made that group merge into this one).
        self.members: list[Op] = [first]

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
        "by_head",
        "by_id",
        "by_mid",
        "by_name",
        "by_tail",
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
        # Normalised name -> its group; a piece (2 or 3 characters, which
        # never collide) of a name's head, middle or tail -> the names.
        self.by_name: dict[str, _Group] = {}
        self.by_head: dict[str, list[str]] = {}
        self.by_mid: dict[str, list[str]] = {}
        self.by_tail: dict[str, list[str]] = {}
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
        tails: list[Op] | tuple[()]
        group = self.serial
        if group is not None:
            tails = [group.tail] if group.tail is not None and not group.tail.settled else ()
        else:
            by_email, by_id, by_name = self.by_email, self.by_id, self.by_name
            groups = self._matches(op) if by_name or by_email or by_id else None
            if groups is None:  # the fast path: nothing in flight shares a key with it
                tails, group = (), _Group(op)
            else:
                tails = [g.tail for g in groups if g.tail is not None and not g.tail.settled]
                group = groups[0] if len(groups) == 1 else self._merge(groups)
                group.members.append(op)
            # Index its keys (the first holder keeps a key: they are one group now).
            for key in op.emails:
                if key not in by_email:
                    by_email[key] = group
            if op.ids:
                for key in op.ids:
                    if key not in by_id:
                        by_id[key] = group
            for name in op.names:
                if name not in by_name:
                    by_name[name] = group
                    # Its pieces (see _WIDE); setdefault: one C call per piece.
                    size = len(name)
                    if size >= _NARROW:
                        if size <= _WIDE:
                            self.by_head.setdefault(name[:2], []).append(name)
                            self.by_tail.setdefault(name[-2:], []).append(name)
                        if size >= _WIDE:
                            self.by_head.setdefault(name[:3], []).append(name)
                            self.by_mid.setdefault(name[3:6], []).append(name)
                            self.by_tail.setdefault(name[-3:], []).append(name)
            if len(by_name) + len(by_email) + len(by_id) > SATURATION:
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
                members = group.members
                if len(members) == 1 and group is not self.serial and not op.ids:
                    # A lone op (most of them): _dissolve inline.
                    for key in op.emails:
                        self.by_email.pop(key, None)
                    for name in op.names:
                        if self.by_name.pop(name, None) is not None:
                            self.stale += 1
                    if self.stale > STALE_PIECES + 2 * len(self.by_name):
                        self._reindex()
                else:
                    self._dissolve(group)
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

    def _matches(self, op: Op) -> list[_Group] | None:
        """The live groups holding a key ``op`` conflicts with (each once), or None."""
        found: list[_Group] | None = None
        if op.emails:
            by_email = self.by_email
            for key in op.emails:
                if (owner := by_email.get(key)) is not None:
                    g = owner.root()
                    if found is None:
                        found = [g]
                    elif g not in found:
                        found.append(g)
        if op.ids:
            by_id = self.by_id
            for key in op.ids:
                if (owner := by_id.get(key)) is not None:
                    g = owner.root()
                    if found is None:
                        found = [g]
                    elif g not in found:
                        found.append(g)
        by_name = self.by_name
        if not by_name:
            return found  # no name in flight: nothing to probe
        head, mid, tail = self.by_head, self.by_mid, self.by_tail
        for name in op.names:
            if (entry := by_name.get(name)) is not None:
                # Held already: a name of another live group matching it
                # would have merged the two when it was added.
                g = entry.root()
                if found is None:
                    found = [g]
                elif g not in found:
                    found.append(g)
                continue
            size = len(name)
            # Most probes miss: ``in`` tests first (no call), the pieces after.
            if not (
                size >= _WIDE
                and (
                    name[:3] in head
                    or name[2:5] in mid
                    or name[3:6] in mid
                    or name[4:7] in mid
                    or name[-3:] in tail
                )
            ) and not (_NARROW <= size <= _WIDE and (name[:2] in head or name[-2:] in tail)):
                continue
            hits = self._probe(name, size)
            assert hits is not None
            candidates = hits[0] if len(hits) == 1 else set().union(*hits)
            for other in candidates:
                if (owner := by_name.get(other)) is None:
                    continue  # the stale piece of a settled name
                g = owner.root()
                if (found is None or g not in found) and names_match(name, other):
                    if found is None:
                        found = [g]
                    else:
                        found.append(g)
        return found

    def _probe(self, name: str, size: int) -> list[list[str]] | None:
        """The indexed names sharing a piece with ``name`` where a match would."""
        hits: list[list[str]] | None = None
        head, tail = self.by_head, self.by_tail
        if size >= _WIDE:
            mid = self.by_mid
            for hit in (
                head.get(name[:3]),
                mid.get(name[2:5]),
                mid.get(name[3:6]),
                mid.get(name[4:7]),
                tail.get(name[-3:]),
            ):
                if hit is not None:
                    if hits is None:
                        hits = [hit]
                    else:
                        hits.append(hit)
        if size <= _WIDE:
            for hit in (head.get(name[:2]), tail.get(name[-2:])):
                if hit is not None:
                    if hits is None:
                        hits = [hit]
                    else:
                        hits.append(hit)
        return hits

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
        self._clear_pieces()
        group.members = []
        self.serial = group
        return tails

    def _index_pieces(self, name: str) -> None:
        """Index a live name's pieces again (as ``admit`` does)."""
        size = len(name)
        if size <= _WIDE:
            self.by_head.setdefault(name[:2], []).append(name)
            self.by_tail.setdefault(name[-2:], []).append(name)
        if size >= _WIDE:
            self.by_head.setdefault(name[:3], []).append(name)
            self.by_mid.setdefault(name[3:6], []).append(name)
            self.by_tail.setdefault(name[-3:], []).append(name)

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
            if member.ids:
                for key in member.ids:
                    by_id.pop(key, None)
            for name in member.names:
                if by_name.pop(name, None) is not None:
                    stale += 1
        # A settled name's pieces stay until there are many (probes skip
        # them): cheaper than finding and removing each one now.
        if stale:
            self.stale += stale
            if self.stale > STALE_PIECES + 2 * len(by_name):
                self._reindex()
