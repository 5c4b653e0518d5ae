"""Bulk layer: which writes may touch the same contact, and so must not overlap.

Billabex matches an upsert by email, then by fuzzy name (``_matching``). Two
writes that could land on one contact must reach the server one after the
other, in input order, or concurrency would change the outcome (duplicates,
the wrong final values). ``Scope.admit`` finds, for each new write, the
unsettled earlier ones it conflicts with.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Literal

from billabex_async._matching import (
    MAX_NAME_DISTANCE,
    Matcher,
    names_match,
    normalize_email,
    normalize_name,
)
from billabex_async.errors import BillabexError
from billabex_async.models import Contact, ContactUpsert

__all__ = ["Op", "Scope", "names_conflict"]


class Op:
    """One write scheduled by the engine, with the keys it may conflict on."""

    __slots__ = (
        "account",
        "dependents",
        "emails",
        "idempotency_key",
        "ids",
        "index",
        "item",
        "kind",
        "names",
        "run",
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
        self.emails = {normalize_email(e) for e in emails if isinstance(e, str) and e.strip()}
        self.names = {normalize_name(n) for n in names if isinstance(n, str)}
        self.ids = set(ids)
        self.idempotency_key = idempotency_key  # what ``run`` sends, for the report
        self.waits = 0  # unsettled earlier ops this one conflicts with
        self.dependents: list[Op] = []  # later ops waiting for this one


def names_conflict(a: set[str], b: set[str]) -> bool:
    # Length difference bounds the edit distance: skip the scorer for most pairs.
    return any(
        abs(len(x) - len(y)) <= MAX_NAME_DISTANCE and names_match(x, y) for x in a for y in b
    )


class Scope:
    """The unsettled ops of one account, indexed for conflict checks."""

    __slots__ = ("answered", "by_email", "by_id", "names", "open", "probe", "stopped", "wrote")

    def __init__(self) -> None:
        # Email (normalised) or contact id -> the latest unsettled op holding it;
        # depending on the latest one chains every op sharing the key in order.
        self.by_email: dict[str, Op] = {}
        self.by_id: dict[str, Op] = {}
        # Every unsettled op by index; fuzzy names are not transitive, so a new
        # op that matches any is compared with each (at most the window).
        self.open: dict[int, Op] = {}
        # Their names, for the common question "does this name match any?":
        # one batch call instead of one comparison per open op.
        self.names: Matcher[tuple[int, str]] = Matcher()
        self.stopped: BillabexError | None = None
        self.wrote = False  # a write succeeded: a later 403 is about one record
        # The account's first op goes alone: if the token or the account is
        # refused, that costs one request, not `concurrency` of them.
        self.probe: Op | None = None
        self.answered = False

    def admit(self, op: Op) -> None:
        deps: dict[int, Op] = {}
        while True:
            for keys, latest in ((op.emails, self.by_email), (op.ids, self.by_id)):
                for key in keys:
                    if (prev := latest.get(key)) is not None:
                        deps[prev.index] = prev
            if any(self.names.find_by_name(name) is not None for name in op.names):
                for other in self.open.values():
                    if other.index not in deps and names_conflict(op.names, other.names):
                        deps[other.index] = other
            # The contact an earlier conflicting op writes may still carry that
            # op's name or email when this one lands on it; this op then renames
            # it. Inherit those keys (to a fixed point), so chains such as
            # A ~ B, B ~ C but A !~ C still go in input order.
            size = len(op.names) + len(op.emails)
            for dep in deps.values():
                op.names |= dep.names
                op.emails |= dep.emails
            if len(op.names) + len(op.emails) == size:
                break
        for keys, latest in ((op.emails, self.by_email), (op.ids, self.by_id)):
            for key in keys:
                latest[key] = op
        for name in op.names:
            self.names.add((op.index, name), name, None)
        if not self.answered:
            # Not a conflict (nothing inherited from it): only an ordering.
            if self.probe is None:
                self.probe = op
            else:
                deps[self.probe.index] = self.probe
        self.open[op.index] = op
        op.waits = len(deps)
        for dep in deps.values():
            dep.dependents.append(op)

    def release(self, op: Op) -> list[Op]:
        """Forget a settled op; returns the ops it was the last to hold back."""
        del self.open[op.index]
        for name in op.names:
            self.names.remove((op.index, name))
        if op is self.probe:
            self.probe, self.answered = None, True
        for key in op.emails:
            if self.by_email.get(key) is op:
                del self.by_email[key]
        for key in op.ids:
            if self.by_id.get(key) is op:
                del self.by_id[key]
        freed = []
        for dep in op.dependents:
            dep.waits -= 1
            if dep.waits == 0:
                freed.append(dep)
        op.dependents.clear()
        return freed
