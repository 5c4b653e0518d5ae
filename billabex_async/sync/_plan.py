"""Sync layer: predict what each desired upsert would do, with Billabex's own rules.

The planner lists the account, indexes it in a ``Matcher`` (the matching
module the simulator uses too), then walks the desired items as successive
upserts would land: by email, then fuzzy name, against the listed contacts
and the ones earlier items create or rename. It hands the event loop back
regularly (``Pacer``): a cancel stops it promptly and the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import TypeVar
from uuid import UUID

from billabex_async._engine.outcomes import account_key
from billabex_async._matching import Matcher, normalize_email
from billabex_async._types import DEFAULT_PAGE_SIZE, UNSET
from billabex_async._validation import check_contact
from billabex_async.errors import InvalidRequestError
from billabex_async.models import Contact, ContactUpsert
from billabex_async.resources import ContactsResource
from billabex_async.sync._guards import check_delete_limits, plan_refusals
from billabex_async.sync._model import FIELDS, ChangeKind, SyncChange, SyncPlan, Write

__all__ = ["KEY_SLICE", "YIELD_AFTER", "YIELD_EVERY", "Pacer", "plan_sync"]

logger = logging.getLogger("billabex_async")

T = TypeVar("T")


YIELD_EVERY = 256
"""Items the planner handles at most between two hand-backs to the event loop..."""
YIELD_AFTER = 0.005
"""... and seconds at most: a slow match (a large account) must not hold the loop either."""
KEY_SLICE = 128
"""Names keyed for fuzzy lookups between two hand-backs (~30 µs each: a few ms)."""


class Pacer:
    """Says when a long CPU-bound loop should hand the event loop back.

    ``if pacer.due(): await asyncio.sleep(0)`` once per item: true every
    ``YIELD_EVERY`` items or ``YIELD_AFTER`` seconds, whichever comes first.
    """

    __slots__ = ("_count", "_deadline")

    def __init__(self) -> None:
        self._count = 0
        self._deadline = time.perf_counter() + YIELD_AFTER

    def due(self) -> bool:
        self._count += 1
        if self._count < YIELD_EVERY and time.perf_counter() < self._deadline:
            return False
        self._count = 0
        self._deadline = time.perf_counter() + YIELD_AFTER
        return True


_EMAIL = FIELDS.index("email")
_AT = {name: at for at, name in enumerate(FIELDS)}
_values = operator.attrgetter(*FIELDS)  # one call for the six, in ``FIELDS`` order
_FULL_NAME = FIELDS.index("full_name")
_LANGUAGE = FIELDS.index("language")


class Known:
    """What the planner believes one contact holds, after the writes planned so far."""

    # The fields as a list in ``FIELDS`` order, not a dict: a 100k-contact
    # account holds one per contact (a dict of six costs ~3x the memory).
    __slots__ = ("contact_id", "email", "listed", "read_only", "values")

    def __init__(
        self, contact_id: UUID | None, values: list[object], read_only: str | None
    ) -> None:
        self.contact_id = contact_id
        self.listed = contact_id is not None  # listed before the sync, not created by it
        self.values = values
        email = values[_EMAIL]
        self.email: str | None = email if isinstance(email, str) else None
        self.read_only = read_only

    @classmethod
    def listed_contact(cls, contact: Contact) -> Known:
        values: list[object] = list(_values(contact))
        values[_EMAIL] = contact.email.address if contact.email is not None else None
        return cls(contact.id, values, contact.read_only_reason)

    def diff(self, item: ContactUpsert) -> dict[str, tuple[object, object]]:
        """The fields an upsert of ``item`` would change: set in the item, different here.

        An email equal but for case is unchanged (Billabex matches it anyway),
        and a missing one never clears the address: upsert cannot.
        """
        changes: dict[str, tuple[object, object]] = {}
        for name, old, new in zip(FIELDS, self.values, _values(item), strict=True):
            if new is UNSET or (name == "email" and new is None):
                continue
            same_address = isinstance(old, str) and isinstance(new, str) and name == "email"
            if same_address and normalize_email(str(old)) == normalize_email(str(new)):
                continue
            if new != old:
                changes[name] = (old, new)
        return changes

    def apply(self, changes: dict[str, tuple[object, object]]) -> None:
        for name, (_, new) in changes.items():
            self.values[_AT[name]] = new
        email = self.values[_EMAIL]
        self.email = email if isinstance(email, str) else None

    @property
    def full_name(self) -> str:
        return str(self.values[_FULL_NAME])

    @property
    def language(self) -> str:
        return str(self.values[_LANGUAGE])


async def each(source: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


async def plan_sync(
    contacts: ContactsResource,
    account_id: str | UUID,
    desired: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
    *,
    delete_missing: bool = False,
    max_deletes: int | None = None,
    max_delete_share: float | None = None,
    allow_empty_account: bool = False,
    on_listed: Callable[[int], None] | None = None,
) -> SyncPlan:
    """List the account and plan the writes that make it match ``desired``; sends no write.

    Desired items are matched as successive upserts would be: by email, then
    fuzzy name, against the current contacts and the ones earlier items
    create or rename. ``on_listed(n)`` reports the listing's progress.
    With ``delete_missing``, ``plan.refusals`` lists the guards the plan trips
    (see ``sync_contacts`` for them and their overrides); ``apply_plan``
    refuses such a plan. Raises ``InvalidRequestError`` if an item is not a
    ``ContactUpsert`` or a limit is invalid (the latter before listing).

    Args:
        contacts: The resource to list and send through (``client.contacts``).
        account_id: The account to sync.
        desired: ``ContactUpsert`` items, an iterable or async iterable, read once.
        delete_missing: Delete the contacts no desired item matches.
        max_deletes: The most deletes allowed (a count).
        max_delete_share: The most deletes allowed, as a share of the listed contacts.
        allow_empty_account: Allow deletes that leave the account with no contact.
        on_listed: Called with the number of contacts listed so far.

    Returns:
        The plan: ``changes``, ``unchanged``, ``listed`` and ``refusals``.
    """
    check_delete_limits(max_deletes, max_delete_share)
    account = account_key(account_id)
    # Deferred: a listing is a bulk load, and names that match exactly are never keyed.
    matcher: Matcher[str] = Matcher(deferred=True)
    known: dict[str, Known] = {}
    pacer = Pacer()
    async for contact in contacts.iterate(account, page_size=DEFAULT_PAGE_SIZE):
        key = str(contact.id)
        known[key] = Known.listed_contact(contact)
        matcher.add(key, contact.full_name, known[key].email)
        if on_listed is not None:
            on_listed(len(known))
        if pacer.due():
            await asyncio.sleep(0)
    listed = len(known)
    plan = SyncPlan(account, [], 0, listed, allow_empty_account=allow_empty_account)
    matched: set[str] = set()
    index = -1
    async for item in each(desired):
        index += 1
        if pacer.due():
            await asyncio.sleep(0)
        if not isinstance(item, ContactUpsert):
            raise InvalidRequestError(
                f"desired item {index} is a {type(item).__name__}, not a ContactUpsert"
            )
        try:
            check_contact(item)
        except InvalidRequestError as exc:
            # Never matched (its fields may not even be text) and never sent:
            # it fails alone, as in bulk_upsert, and its failure withholds deletes.
            failed = SyncChange("create", str(item.full_name), None, index, {}, item)
            failed.status, failed.error = "failed", exc
            plan.changes.append(failed)
            continue
        found = matcher.find_exact(item.full_name, item.email)
        if found is None:
            # A fuzzy lookup: first key the names it needs (all of the listing,
            # the first time), in slices, handing the loop back in between.
            while not matcher.settle(KEY_SLICE):  # noqa: ASYNC110 - CPU slices, no event
                await asyncio.sleep(0)
            found = matcher.find_by_name(item.full_name)
        if found is None:
            key = f"new:{index}"
            target = known[key] = Known(None, [None] * len(FIELDS), None)
            kind: ChangeKind = "create"
        else:
            key = found
            target = known[key]
            matched.add(key)
            kind = "update"
        diff = target.diff(item)
        if not diff:
            plan.unchanged += 1
            continue
        change = SyncChange(kind, item.full_name, target.contact_id, index, diff, item)
        plan.changes.append(change)
        if target.read_only is not None:
            change.status, change.reason = "skipped", f"read-only: {target.read_only}"
            continue
        # Conflict keys: what the contact holds before this write and after it
        # (a new contact holds nothing before).
        emails: tuple[str | None, ...] = (item.email,)
        names: tuple[str, ...] = (item.full_name,)
        if kind == "update":
            emails, names = (*emails, target.email), (*names, target.full_name)
        plan._writes.append(Write(change, item, emails, names, key))
        target.apply(diff)
        matcher.add(key, target.full_name, target.email)
    plan.desired_seen = index + 1
    if delete_missing:
        for key, target in known.items():
            if pacer.due():
                await asyncio.sleep(0)
            if not target.listed or key in matched:
                continue
            change = SyncChange("delete", target.full_name, target.contact_id)
            plan.changes.append(change)
            if target.read_only is not None:
                change.status, change.reason = "skipped", f"read-only: {target.read_only}"
                continue
            gone = ContactUpsert(
                full_name=target.full_name,
                language=target.language,
                email=target.email,
            )
            plan._writes.append(Write(change, gone, (target.email,), (target.full_name,), key))
        kinds = [write.change.kind for write in plan._writes]
        plan.refusals = plan_refusals(
            desired=plan.desired_seen,
            listed=listed,
            deletes=kinds.count("delete"),
            creates=kinds.count("create"),
            max_deletes=max_deletes,
            max_delete_share=max_delete_share,
            allow_empty_account=allow_empty_account,
        )
    logger.info(
        "sync %s: %d listed, %d writes planned, %d unchanged",
        account, listed, len(plan._writes), plan.unchanged,
    )  # fmt: skip
    return plan
