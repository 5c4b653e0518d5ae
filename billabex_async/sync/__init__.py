"""Sync layer: make an account's contacts match a desired list, sending only changes.

A sync lists the account (one request per 100 contacts), predicts what each
desired upsert would do with Billabex's own matching rules (``_matching``),
and sends only the upserts that would change something, plus deletes when
asked. The writes run on the bulk engine: same concurrency, same ordering of
conflicting writes, same early stop and cancellation rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Iterable
from uuid import UUID

import attrs

from billabex_async.bulk import (
    DEFAULT_CANCEL_GRACE,
    DEFAULT_CONCURRENCY,
    BulkFailure,
    BulkReport,
    ProgressCallback,
)
from billabex_async.bulk._conflicts import Op
from billabex_async.bulk._engine import Engine, Settled
from billabex_async.errors import NotFoundError
from billabex_async.models import Contact, ContactUpsert
from billabex_async.resources import ContactsResource
from billabex_async.sync._model import (
    ChangeKind,
    ChangeStatus,
    SyncChange,
    SyncPlan,
    SyncResult,
    Write,
)
from billabex_async.sync._plan import plan_sync

__all__ = [
    "ChangeKind",
    "ChangeStatus",
    "SyncChange",
    "SyncPlan",
    "SyncResult",
    "apply_plan",
    "plan_sync",
    "sync_contacts",
]

logger = logging.getLogger("billabex_async")

_COUNTERS = {"create": "created", "update": "updated", "delete": "deleted"}


def _op(contacts: ContactsResource, account: str, index: int, write: Write, key: str) -> Op:
    change = write.change
    if change.kind == "delete":
        contact_id = change.contact_id
        assert contact_id is not None

        async def delete() -> Contact | None:
            try:
                await contacts.delete(account, contact_id, idempotency_key=key)
            except NotFoundError:
                logger.debug("sync: contact %s was already deleted", contact_id)
            return None

        return Op(
            index, account, write.item, delete, kind="delete", ids=(write.key,), idempotency_key=key
        )
    item = write.item

    async def upsert() -> Contact | None:
        return await contacts.upsert(account, item, idempotency_key=key)

    return Op(
        index,
        account,
        item,
        upsert,
        emails=write.emails,
        names=write.names,
        ids=(write.key,),
        idempotency_key=key,
    )


async def apply_plan(
    contacts: ContactsResource,
    plan: SyncPlan,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: ProgressCallback | None = None,
    result: SyncResult | None = None,
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
) -> SyncResult:
    """Send a plan's writes through the bulk engine; ``on_progress(done, total)`` per write.

    Pass your own ``result`` to keep the consistent partial result when the
    call is cancelled (see ``bulk_upsert_account`` for the rules).
    """
    result = SyncResult() if result is None else result
    result.unchanged, result.listed, result.changes = plan.unchanged, plan.listed, plan.changes
    result.skipped = sum(1 for change in plan.changes if change.status == "skipped")
    writes = plan._writes
    report = BulkReport()

    def settled(outcome: Settled) -> None:
        change = writes[outcome.op.index].change
        if outcome.status == "succeeded":
            change.status = "applied"
            if outcome.contact is not None:
                if change.contact_id not in (None, outcome.contact.id):
                    logger.warning("sync: an upsert matched another contact than planned")
                change.contact_id = outcome.contact.id
            name = _COUNTERS[change.kind]
            setattr(result, name, getattr(result, name) + 1)
            return
        change.status, change.error = outcome.status, outcome.error
        if outcome.status == "not_attempted":
            result.not_attempted += 1
        elif change.kind == "delete":
            result.failed_deletes.append(change)
        else:
            assert change.item is not None
            assert change.index is not None
            assert outcome.error is not None
            failure = BulkFailure(
                change.index,
                change.item,
                outcome.error,
                plan.account_id,
                outcome.op.idempotency_key,
            )
            result.failed.append(failure)

    def identity(_: int, op: Op) -> Op:
        return op

    ops = [
        _op(contacts, plan.account_id, i, write, report.key_for(i))
        for i, write in enumerate(writes)
    ]
    engine: Engine[Op] = Engine(
        ops,
        identity,
        concurrency=concurrency,
        report=report,
        on_progress=on_progress,
        cancel_grace=cancel_grace,
        per_account=False,
        on_settled=settled,
    )
    try:
        async with contextlib.aclosing(engine.run()) as settled_items:
            async for _ in settled_items:
                pass
    finally:
        result.error, result.cancelled = report.error, report.cancelled
        # Writes the engine never read (it reads ahead only a little) were not
        # attempted either: mark them, so the result lists everything left to do.
        for write in writes[report.total :]:
            write.change.status = "not_attempted"
            result.not_attempted += 1
    logger.info(
        "sync %s: %d created, %d updated, %d deleted, %d failed",
        plan.account_id, result.created, result.updated, result.deleted,
        len(result.failed) + len(result.failed_deletes),
    )  # fmt: skip
    return result


async def sync_contacts(
    contacts: ContactsResource,
    account_id: str | UUID,
    desired: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
    *,
    delete_missing: bool = False,
    dry_run: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: ProgressCallback | None = None,
    result: SyncResult | None = None,
) -> SyncResult:
    """Make the account's contacts match ``desired``, writing only what changes.

    A change is a field the desired item sets to another value than the
    contact holds (emails compared ignoring case; an item without email never
    clears one). New contacts are upserted, changed ones upserted again,
    and with ``delete_missing`` the contacts no desired item matched are
    deleted. ``dry_run`` only lists: the result holds the planned counts and
    ``changes``. Re-syncing unchanged data costs one GET per 100 contacts.
    """
    try:
        plan = await plan_sync(contacts, account_id, desired, delete_missing=delete_missing)
    except asyncio.CancelledError:
        if result is not None:
            result.cancelled = True  # during the listing: nothing was written
        raise
    if dry_run:
        planned = plan.result()
        if result is None:
            return planned
        for field in attrs.fields(SyncResult):
            setattr(result, field.name, getattr(planned, field.name))
        return result
    return await apply_plan(
        contacts, plan, concurrency=concurrency, on_progress=on_progress, result=result
    )
