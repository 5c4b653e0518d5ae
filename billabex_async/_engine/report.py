"""Engine layer: what a bulk run reports, item by item and in total."""

from __future__ import annotations

import uuid
from typing import Literal

import attrs

from billabex_async.errors import BillabexError
from billabex_async.models import Contact, ContactUpsert
from billabex_async.resources.contacts import write_body

__all__ = ["BulkFailure", "BulkOutcome", "BulkReport", "Status"]

Status = Literal["succeeded", "failed", "not_attempted"]
"""What happened to one item of a bulk run."""


@attrs.frozen
class BulkFailure:
    """One item that failed (after retries): its position in the input, the item, why.

    ``idempotency_key`` is the key its upsert was sent with; resend ``body``
    with that key to finish it (``bulk_upsert(..., resume_from=report)``
    does). None when the item was never sent with one.
    """

    index: int
    """Position of the item in the input, from 0."""
    item: ContactUpsert
    """The item as given."""
    error: BaseException
    """Why it failed: the last error of its last attempt."""
    account_id: str | None = None
    """The account it was sent to (None only in reports built by hand)."""
    idempotency_key: str | None = None

    @property
    def body(self) -> str:
        """The JSON text the upsert sends: the same bytes as every attempt sent."""
        return write_body(self.item)


@attrs.frozen
class BulkOutcome:
    """What happened to one item, as streamed by ``iter_upsert``."""

    index: int
    """Position of the item in the input, from 0."""
    item: ContactUpsert
    """The item as given."""
    account_id: str
    """The account it was sent to."""
    status: Status
    """``succeeded``, ``failed`` or ``not_attempted``."""
    contact: Contact | None = None
    """The contact the server returned, when the upsert succeeded."""
    error: BaseException | None = None
    """Why it failed, or (not attempted) the error that stopped the run."""
    idempotency_key: str | None = None
    """The key it was (or would have been) sent with: ``BulkReport.key_for(index)``."""


@attrs.define
class BulkReport:
    """What a bulk run did; consistent when the run returns, stops early or is cancelled.

    ``total`` counts the items read from the input: ``succeeded + len(failed)
    + not_attempted`` (not attempted: read, never sent, after an early stop or
    a cancellation). ``error`` is the error that stopped the run early (401,
    or a 403/404 refusing the only account); ``stopped_accounts`` holds the
    accounts given up on that way. ``resume_from``: every item before this
    index was sent and succeeded or is in ``failed``, so re-running the input
    from there finishes the job (upsert is idempotent: the few items after it
    that were already sent are harmless to send again).

    Item ``i`` is sent with the Idempotency-Key ``key_for(i)``, derived from
    ``run_id`` (random unless you set it): a run resumed from this report, or
    from a copy saved before the process died, sends every item again with
    the same key, so the server answers what it already did instead of doing
    it twice. Derived keys cost no memory per item, whatever the input size;
    they assume the resumed input is the same, in the same order (an item
    changed since then fails with a 409 ``app-core.idempotency.key-reused``).
    ``skipped`` counts the items a resumed run did not send again because
    the previous run had finished them (they are in ``succeeded``).
    """

    total: int = 0
    """Items read from the input."""
    succeeded: int = 0
    """Items the server applied (or had applied: a resumed run's done items)."""
    failed: list[BulkFailure] = attrs.field(factory=list)
    """The items that failed, in completion order."""
    not_attempted: int = 0
    """Items read but never sent: after an early stop or a cancel."""
    error: BillabexError | None = None
    """The error that stopped the run early (401, or a 403/404 on the only account)."""
    stopped_accounts: dict[str, BillabexError] = attrs.field(factory=dict)
    """Accounts given up on (a 403/404), with the error each got."""
    cancelled: bool = False
    """The run was cancelled."""
    resume_from: int = 0
    """Every item before this index is settled: resume from here."""
    run_id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    """Where every item's Idempotency-Key derives from (``key_for``)."""
    skipped: int = 0
    """Items a resumed run did not resend: the previous run had finished them."""

    def key_for(self, index: int) -> str:
        """The Idempotency-Key of input item ``index`` in this run (and its resumptions)."""
        return f"{self.run_id}-{index}"

    @property
    def complete(self) -> bool:
        """Every item read was attempted, and the input was read to its end."""
        return not self.cancelled and self.error is None and self.not_attempted == 0

    @property
    def ok(self) -> bool:
        """Complete and nothing failed."""
        return self.complete and not self.failed
