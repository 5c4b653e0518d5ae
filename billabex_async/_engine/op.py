"""Engine layer: one scheduled write, its normalised conflict keys, and its conflict group."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Literal

from billabex_async._matching import normalize_email, normalize_name
from billabex_async.models import Contact, ContactUpsert

__all__ = ["Group", "Op", "upsert_op"]


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
        self.dependents: list[Op] | None = None  # later ops waiting for this one, once any
        # None while no other unsettled op shares a key with it: alone, the op
        # is its own group and nothing is allocated for it (the common case).
        self.group: Group | None = None
        self.settled = False


_new = object.__new__


def upsert_op(
    index: int,
    account: str,
    item: ContactUpsert,
    run: Callable[[], Coroutine[Any, Any, Contact | None]],
    idempotency_key: str,
) -> Op:
    """``Op(index, account, item, run, emails=(item.email,), names=(item.full_name,), ...)``.

    Bulk builds one per item: the same op without the general constructor's
    checks and keyword handling. ``item`` may be anything (the upsert itself
    refuses what is not a valid ``ContactUpsert``): a key that is not a
    string is no key, a blank email none either, as there.
    """
    op: Op = _new(Op)
    op.index = index
    op.account = account
    op.item = item
    op.run = run
    op.kind = "upsert"
    email = getattr(item, "email", None)
    op.emails = (key,) if isinstance(email, str) and (key := normalize_email(email)) else ()
    name = getattr(item, "full_name", None)
    op.names = (normalize_name(name),) if isinstance(name, str) else ()
    op.ids = ()
    op.idempotency_key = idempotency_key
    op.waits = 0
    op.dependents = None
    op.group = None
    op.settled = False
    return op


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


class Group:
    """Unsettled ops that conflict, directly or through each other, and their keys.

    Built only once a second op joins: an op alone is its own group
    (``Op.group`` None).
    """

    __slots__ = ("members", "open", "parent", "tail")

    def __init__(self) -> None:
        self.parent: Group | None = None  # set when merged into a larger group
        self.tail: Op | None = None  # the latest op; it waits for all the others
        self.open = 0  # unsettled ops
        # Its ops, settled or not: every key they carry is indexed to one of
        # them (a key held elsewhere made that holder's group merge into this one).
        self.members: list[Op] = []

    def root(self) -> Group:
        group = self
        while group.parent is not None:
            group = group.parent
        node = self
        while node.parent is not None and node.parent is not group:  # path compression
            node.parent, node = group, node.parent
        return group
