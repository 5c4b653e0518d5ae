"""Bulk layer: what a bulk run reports, item by item and in total."""

from __future__ import annotations

from typing import Literal

import attrs

from billabex_async.errors import BillabexError
from billabex_async.models import Contact, ContactUpsert

__all__ = ["BulkFailure", "BulkOutcome", "BulkReport", "Status"]

Status = Literal["succeeded", "failed", "not_attempted"]


@attrs.frozen
class BulkFailure:
    """One item that failed (after retries): its position in the input, the item, why."""

    index: int
    item: ContactUpsert
    error: BaseException
    account_id: str | None = None


@attrs.frozen
class BulkOutcome:
    """What happened to one item, as streamed by ``iter_upsert``."""

    index: int
    item: ContactUpsert
    account_id: str
    status: Status
    contact: Contact | None = None
    """The contact the server returned, when the upsert succeeded."""
    error: BaseException | None = None
    """Why it failed, or (not attempted) the error that stopped the run."""


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
    """

    total: int = 0
    succeeded: int = 0
    failed: list[BulkFailure] = attrs.field(factory=list)
    not_attempted: int = 0
    error: BillabexError | None = None
    stopped_accounts: dict[str, BillabexError] = attrs.field(factory=dict)
    cancelled: bool = False
    resume_from: int = 0

    @property
    def complete(self) -> bool:
        """Every item read was attempted, and the input was read to its end."""
        return not self.cancelled and self.error is None and self.not_attempted == 0

    @property
    def ok(self) -> bool:
        """Complete and nothing failed."""
        return self.complete and not self.failed
