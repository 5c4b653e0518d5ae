"""Sync layer: make an account's contacts match a desired list, sending only changes.

A sync lists the account (one request per 100 contacts), predicts what each
desired upsert would do with Billabex's own matching rules (``_matching``),
and sends only the upserts that would change something, plus deletes when
asked. The writes run on the engine bulk uses too (same concurrency, ordering of
conflicting writes, early stop and cancellation rules), the deletes last
and behind guards (``_guards``): a sync must never destroy what it should keep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable
from uuid import UUID

import attrs

from billabex_async._types import ProgressCallback
from billabex_async.models import ContactUpsert
from billabex_async.resources import ContactsResource
from billabex_async.sync._apply import apply_plan
from billabex_async.sync._guards import DEFAULT_MAX_DELETE_SHARE, DEFAULT_MAX_DELETES
from billabex_async.sync._model import (
    ChangeKind,
    ChangeStatus,
    GuardName,
    GuardRefusal,
    SyncChange,
    SyncPlan,
    SyncResult,
)
from billabex_async.sync._plan import plan_sync

__all__ = [
    "DEFAULT_MAX_DELETES",
    "DEFAULT_MAX_DELETE_SHARE",
    "ChangeKind",
    "ChangeStatus",
    "GuardName",
    "GuardRefusal",
    "SyncChange",
    "SyncPlan",
    "SyncResult",
    "apply_plan",
    "plan_sync",
    "sync_contacts",
]


async def sync_contacts(
    contacts: ContactsResource,
    account_id: str | UUID,
    desired: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
    *,
    delete_missing: bool = False,
    dry_run: bool = False,
    max_deletes: int | None = None,
    max_delete_share: float | None = None,
    allow_empty_account: bool = False,
    delete_after_failures: bool = False,
    concurrency: int | None = None,
    on_progress: ProgressCallback | None = None,
    result: SyncResult | None = None,
) -> SyncResult:
    """Make the account's contacts match ``desired``, writing only what changes.

    A change is a field the desired item sets to another value than the
    contact holds (emails compared ignoring case; an item without email never
    clears one). New contacts are upserted, changed ones upserted again,
    and with ``delete_missing`` the contacts no desired item matched are
    deleted, after every upsert succeeded, never one an upsert returned.
    ``dry_run`` only lists: the result holds the planned counts, ``changes``
    and the guards' ``refusals``. Re-syncing unchanged data costs one GET per
    100 contacts.

    Guards (``delete_missing`` only) raise ``SyncRefusedError`` before any
    write: no desired item at all (an exhausted iterator too); more deletes
    than ``max_deletes`` (a count) and/or ``max_delete_share`` (of the listed
    contacts), by default more than ``DEFAULT_MAX_DELETES`` or
    ``DEFAULT_MAX_DELETE_SHARE`` of the listed, whichever is more; an
    account left with no contact, unless ``allow_empty_account``.
    ``delete_after_failures`` lets the deletes run after per-item upsert
    failures (never after an early stop or a cancel).

    Args:
        contacts: The resource to list and send through (``client.contacts``).
        account_id: The account to sync.
        desired: ``ContactUpsert`` items, an iterable or async iterable, read once.
        delete_missing: Delete the contacts no desired item matches.
        max_deletes: The most deletes allowed (a count).
        max_delete_share: The most deletes allowed, as a share of the listed contacts.
        allow_empty_account: Allow deletes that leave the account with no contact.
        dry_run: Send no write; return the plan as a result.
        delete_after_failures: Send the deletes even after per-item failures.
        concurrency: Writes in flight; None follows the rate limit.
        on_progress: ``on_progress(done, total)`` after each write settles.
        result: A ``SyncResult`` filled in place (kept when cancelled).

    Returns:
        The counts, ``changes``, ``failed`` and ``refusals``.

    Raises:
        SyncRefusedError: A guard refused the run; nothing was written.
    """
    try:
        plan = await plan_sync(
            contacts,
            account_id,
            desired,
            delete_missing=delete_missing,
            max_deletes=max_deletes,
            max_delete_share=max_delete_share,
            allow_empty_account=allow_empty_account,
        )
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
        contacts,
        plan,
        concurrency=concurrency,
        on_progress=on_progress,
        result=result,
        delete_after_failures=delete_after_failures,
    )
