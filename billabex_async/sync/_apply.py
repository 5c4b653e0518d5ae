"""Sync layer: send a plan's writes, upserts first, then the deletes they leave provable.

Two phases on the engine (``_engine``, as bulk runs on). The upserts run first, conflicting ones in
order. The deletes start only once every upsert settled, and only when all
of them succeeded: a contact id an upsert returned is never deleted (the
server matched it to a desired item, whatever the plan predicted), and a
failed, unsent or cancelled write holds every delete back, as rsync skips
deletion after an I/O error.
"""

from __future__ import annotations

import contextlib
import logging
from uuid import UUID

from billabex_async._engine import DEFAULT_CANCEL_GRACE, engine_for
from billabex_async._engine.conflicts import Op
from billabex_async._engine.outcomes import Settled
from billabex_async._engine.report import BulkFailure, BulkReport
from billabex_async._types import ProgressCallback
from billabex_async.errors import NotFoundError
from billabex_async.models import Contact
from billabex_async.resources import ContactsResource
from billabex_async.sync._guards import empty_account_reason, refused
from billabex_async.sync._model import SyncPlan, SyncResult, Write, rejected

__all__ = ["apply_plan"]

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


class _Phase:
    """One engine run over some of the plan's writes, recording outcomes in the result."""

    def __init__(
        self, plan: SyncPlan, result: SyncResult, returned: set[UUID], writes: list[Write]
    ) -> None:
        self.plan, self.result, self.returned, self.writes = plan, result, returned, writes

    def settled(self, outcome: Settled) -> None:
        change, result = self.writes[outcome.op.index].change, self.result
        if outcome.status == "succeeded":
            change.status = "applied"
            if outcome.contact is not None:
                if change.contact_id not in (None, outcome.contact.id):
                    logger.warning("sync: an upsert matched another contact than planned")
                change.contact_id = outcome.contact.id
                self.returned.add(outcome.contact.id)
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
                self.plan.account_id,
                outcome.op.idempotency_key,
            )
            result.failed.append(failure)

    async def run(
        self,
        contacts: ContactsResource,
        *,
        concurrency: int | None,
        on_progress: ProgressCallback | None,
        cancel_grace: float,
    ) -> None:
        def identity(_: int, op: Op) -> Op:
            return op

        account, result = self.plan.account_id, self.result
        # Each write's key comes from this phase's run id and its position.
        report = BulkReport()
        ops = [
            _op(contacts, account, i, write, report.key_for(i))
            for i, write in enumerate(self.writes)
        ]
        engine = engine_for(
            contacts,
            ops,
            identity,
            concurrency=concurrency,
            report=report,
            on_progress=on_progress,
            cancel_grace=cancel_grace,
            on_settled=self.settled,
        )
        try:
            async with contextlib.aclosing(engine.run()) as settled_items:
                async for _ in settled_items:
                    pass
        finally:
            result.error = result.error or report.error
            result.cancelled = result.cancelled or report.cancelled
            # Writes the engine never read (it reads ahead only a little) were not
            # attempted either: mark them, so the result lists everything left to do.
            for write in self.writes[report.total :]:
                write.change.status = "not_attempted"
                result.not_attempted += 1


def _hold_reason(
    result: SyncResult,
    plan: SyncPlan,
    to_delete: int,
    returned: set[UUID],
    delete_after_failures: bool,
) -> str | None:
    """Why the deletes must not run after this upsert phase, or None."""
    if result.error is not None or result.not_attempted:
        kind = type(result.error).__name__ if result.error is not None else "stopped"
        return f"the writes stopped early ({kind}): deletes never run after that"
    if result.failed and not delete_after_failures:
        return (
            f"{len(result.failed)} write(s) failed: deletes run only after every write "
            f"succeeded (delete_after_failures=True overrides)"
        )
    # Every listed contact deleted and none returned by an upsert: none left.
    if to_delete and to_delete == plan.listed and not returned and not plan.allow_empty_account:
        return empty_account_reason(plan.listed)
    return None


def _withhold(plan: SyncPlan, result: SyncResult, writes: list[Write], reason: str) -> None:
    if not writes:
        return
    for write in writes:
        write.change.status, write.change.reason = "withheld", reason
    result.deletes_skipped += len(writes)
    result.deletes_skipped_reason = reason
    logger.warning("sync %s: %d delete(s) withheld: %s", plan.account_id, len(writes), reason)


async def apply_plan(
    contacts: ContactsResource,
    plan: SyncPlan,
    *,
    concurrency: int | None = None,
    on_progress: ProgressCallback | None = None,
    result: SyncResult | None = None,
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
    delete_after_failures: bool = False,
) -> SyncResult:
    """Send a plan's writes: every upsert, then (once all settled) the deletes.

    ``on_progress(done, total)`` per write, over both phases. A plan with
    ``refusals`` raises ``SyncRefusedError`` before anything is sent. A
    planned delete is not sent (``result.kept``) when an upsert of the run
    returned that contact; no delete is sent (``result.deletes_skipped`` and
    its reason) after a failed or unsent write, unless
    ``delete_after_failures`` allows it after per-item failures; never
    after the run stopped early or was cancelled. Pass your own ``result`` to
    keep the consistent partial result when the call is cancelled.

    Args:
        contacts: The resource to send through (``client.contacts``).
        plan: What ``plan_sync`` returned.
        concurrency: Writes in flight; None follows the rate limit.
        on_progress: ``on_progress(done, total)`` after each write settles.
        result: A ``SyncResult`` filled in place (kept when cancelled).
        cancel_grace: Seconds in-flight writes get to finish on cancellation.
        delete_after_failures: Send the deletes even after per-item failures.

    Returns:
        What was applied.
    """
    result = SyncResult() if result is None else result
    result.unchanged, result.listed, result.changes = plan.unchanged, plan.listed, plan.changes
    result.skipped = sum(1 for change in plan.changes if change.status == "skipped")
    result.failed.extend(rejected(plan.account_id, c) for c in plan.changes if c.status == "failed")
    if plan.refusals:
        result.refusals = list(plan.refusals)
        raise refused(plan.refusals)
    upserts = [w for w in plan._writes if w.change.kind != "delete"]
    deletes = [w for w in plan._writes if w.change.kind == "delete"]
    total = len(plan._writes)
    returned: set[UUID] = set()

    def progress(offset: int) -> ProgressCallback | None:
        if on_progress is None:
            return None
        report = on_progress
        return lambda done, _: report(offset + done, total)

    try:
        await _Phase(plan, result, returned, upserts).run(
            contacts, concurrency=concurrency, on_progress=progress(0), cancel_grace=cancel_grace
        )
    except BaseException:
        _withhold(plan, result, deletes, "the run was cancelled or failed before the deletes")
        raise
    kept = [w for w in deletes if w.change.contact_id in returned]
    for write in kept:
        write.change.status = "kept"
        write.change.reason = "an upsert of this run returned this contact"
    result.kept = len(kept)
    to_delete = [w for w in deletes if w.change.contact_id not in returned]
    reason = _hold_reason(result, plan, len(to_delete), returned, delete_after_failures)
    if reason is not None:
        _withhold(plan, result, to_delete, reason)
    elif to_delete:
        await _Phase(plan, result, returned, to_delete).run(
            contacts,
            concurrency=concurrency,
            on_progress=progress(len(upserts) + len(kept)),
            cancel_grace=cancel_grace,
        )
    logger.info(
        "sync %s: %d created, %d updated, %d deleted, %d kept, %d withheld, %d failed",
        plan.account_id, result.created, result.updated, result.deleted, result.kept,
        result.deletes_skipped, len(result.failed) + len(result.failed_deletes),
    )  # fmt: skip
    return result
