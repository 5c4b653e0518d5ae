"""Sync layer: the plan and the result of a sync, change by change."""

from __future__ import annotations

from typing import Literal, NamedTuple
from uuid import UUID

import attrs

from billabex_async._engine.report import BulkFailure
from billabex_async.errors import BillabexError
from billabex_async.models import ContactUpsert

__all__ = [
    "FIELDS",
    "ChangeKind",
    "ChangeStatus",
    "GuardName",
    "GuardRefusal",
    "SyncChange",
    "SyncPlan",
    "SyncResult",
    "Write",
    "rejected",
]

ChangeKind = Literal["create", "update", "delete"]
"""The write a change sends: an upsert that creates or updates, or a delete."""
ChangeStatus = Literal[
    "planned", "applied", "failed", "not_attempted", "skipped", "kept", "withheld"
]
"""``kept``: a delete not sent because an upsert of the run returned that contact;
``withheld``: a delete not sent because a write failed or a guard held it back."""
GuardName = Literal["empty_desired", "max_deletes", "empty_account"]
"""The guards of a ``delete_missing`` sync (see ``SyncRefusedError``)."""

# Fields an upsert may carry, in the order changes show them.
FIELDS = ("full_name", "language", "email", "role", "notes", "is_primary")


@attrs.define
class SyncChange:
    """One write a sync plans (and, unless dry run, sends): what, to whom, which fields."""

    kind: ChangeKind
    """``create``, ``update`` or ``delete``."""
    full_name: str
    """The desired name (create, update) or the current one (delete)."""
    contact_id: UUID | None = None
    """The contact written; for a create, known once applied."""
    index: int | None = None
    """Position of the desired item in the input; None for a delete."""
    fields: dict[str, tuple[object, object]] = attrs.field(factory=dict)
    """Field name -> (current value, new value); a create's current values are None."""
    item: ContactUpsert | None = None
    """The desired item an upsert sends (None for a delete)."""
    status: ChangeStatus = "planned"
    """Where the change stands: ``planned`` until sent, then ``applied``, ``failed``..."""
    error: BaseException | None = None
    """Why it failed, when it did."""
    reason: str | None = None
    """Why a change was not sent: skipped (read-only, it would answer 403), kept or withheld."""


@attrs.frozen
class GuardRefusal:
    """A guard that refuses this sync: a real run raises ``SyncRefusedError`` with it."""

    guard: GuardName
    """Which guard refuses."""
    message: str
    """Says what would be deleted, the limit, and the keyword that overrides it."""
    override: str | None
    """The keyword argument that lifts the guard; None when nothing does."""
    count: int | None = None
    """Deletes planned."""
    limit: int | None = None
    """Deletes allowed."""


@attrs.define
class SyncResult:
    """What a sync did, or would do when ``dry_run`` (counts are then planned counts).

    ``failed`` holds the desired items whose upsert failed, as in
    ``BulkReport``; ``failed_deletes`` the deletes that failed. ``changes``
    lists every write with its status, ``skipped`` counts the changes not sent
    because the record is read-only. ``error``, ``cancelled`` and
    ``not_attempted`` work as in ``BulkReport``.

    Deletes run only after every upsert settled: ``kept`` counts the planned
    deletes not sent because an upsert of this run returned that contact (the
    server matched it to a desired item); ``deletes_skipped`` the deletes held
    back, ``deletes_skipped_reason`` why (a write failed or was not sent, the
    run stopped, or the account would be left empty). ``refusals`` lists the
    guards that refuse the run: a dry run reports them, a real run raises.
    """

    created: int = 0
    """Contacts created (planned, in a dry run)."""
    updated: int = 0
    """Contacts updated."""
    unchanged: int = 0
    """Desired items that needed no write."""
    deleted: int = 0
    """Contacts deleted."""
    failed: list[BulkFailure] = attrs.field(factory=list)
    """Desired items whose upsert failed, as in ``BulkReport.failed``."""
    failed_deletes: list[SyncChange] = attrs.field(factory=list)
    """Deletes that failed."""
    skipped: int = 0
    """Changes not sent: the record is read-only."""
    changes: list[SyncChange] = attrs.field(factory=list)
    """Every planned or applied write, with its status."""
    dry_run: bool = False
    """Nothing was sent: the counts are planned."""
    listed: int = 0
    """Contacts the account held before the sync."""
    not_attempted: int = 0
    """Writes planned but never sent (early stop, cancel)."""
    error: BillabexError | None = None
    """The error that stopped the run early."""
    cancelled: bool = False
    """The run was cancelled."""
    kept: int = 0
    """Planned deletes not sent: an upsert of the run returned that contact."""
    deletes_skipped: int = 0
    """Deletes held back after a failed or unsent write."""
    deletes_skipped_reason: str | None = None
    """Why the deletes were held back."""
    refusals: list[GuardRefusal] = attrs.field(factory=list)
    """The guards refusing the run (a dry run reports them; a real run raises)."""

    @property
    def ok(self) -> bool:
        """Everything planned was applied (or, in a dry run, planned and no guard refuses)."""
        return (
            not self.failed
            and not self.failed_deletes
            and self.error is None
            and not self.cancelled
            and self.not_attempted == 0
            and self.deletes_skipped == 0
            and not self.refusals
        )


def rejected(account_id: str, change: SyncChange) -> BulkFailure:
    """The failure record of a desired item the planner refused (bad fields)."""
    assert change.index is not None
    assert change.item is not None
    assert change.error is not None
    return BulkFailure(change.index, change.item, change.error, account_id)


class Write(NamedTuple):
    change: SyncChange
    item: ContactUpsert
    """The desired item, or for a delete the contact as listed."""
    emails: tuple[str | None, ...]
    names: tuple[str, ...]
    key: str
    """The planner's key of the contact written: a listed id, or "new:<index>"."""


@attrs.define(repr=False)
class SyncPlan:
    """The writes a sync will send, computed from one listing of the account."""

    account_id: str
    """The account planned for."""
    changes: list[SyncChange]
    """Every write to send, and the skipped ones."""
    unchanged: int
    """Desired items that need no write."""
    listed: int
    """Contacts the account held when listed."""
    _writes: list[Write] = attrs.field(factory=list, repr=False, alias="_writes")
    refusals: list[GuardRefusal] = attrs.field(factory=list)
    """Guards refusing this plan: ``apply_plan`` raises ``SyncRefusedError`` if any."""
    allow_empty_account: bool = False
    """Deletes may leave the account with no contact (set by ``plan_sync``)."""
    desired_seen: int = 0
    """Desired items read."""

    def __repr__(self) -> str:
        # Counts, not the changes: a plan can hold 100k of them, and asyncio
        # formats the repr of what ``asyncio.run`` returns (seconds of CPU).
        return (
            f"<SyncPlan account_id={self.account_id!r} changes={len(self.changes)} "
            f"writes={len(self._writes)} unchanged={self.unchanged} listed={self.listed} "
            f"refusals={[r.guard for r in self.refusals]}>"
        )

    def result(self) -> SyncResult:
        """The plan as a dry-run result: planned counts and refusals, nothing sent."""
        result = SyncResult(unchanged=self.unchanged, listed=self.listed, dry_run=True)
        result.changes = self.changes
        result.refusals = list(self.refusals)
        for change in self.changes:
            if change.status == "failed":  # refused by validation: would not be sent
                result.failed.append(rejected(self.account_id, change))
            elif change.status == "skipped":
                result.skipped += 1
            elif change.kind == "create":
                result.created += 1
            elif change.kind == "update":
                result.updated += 1
            else:
                result.deleted += 1
        return result
