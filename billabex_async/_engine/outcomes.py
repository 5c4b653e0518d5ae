"""Engine layer: what one settled write is, and which errors end more than that write."""

from __future__ import annotations

import logging
import re
from typing import Literal, NamedTuple
from uuid import UUID

from billabex_async._engine.conflicts import Scope
from billabex_async._engine.op import Op
from billabex_async._engine.report import BulkReport, Status
from billabex_async._types import canonical_uuid
from billabex_async.errors import (
    AuthenticationError,
    AuthRefreshError,
    BillabexError,
    ClientClosedError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    WrongEventLoopError,
)
from billabex_async.models import Contact
from billabex_async.resources.contacts import write_body

__all__ = ["Settled", "account_key", "interrupted", "stop_level", "stops_run"]

logger = logging.getLogger("billabex_async")

# Billabex's 403 for a connector-owned record; any other 403 is taken as the
# token or account being refused, which every later item would hit too.
READ_ONLY = re.compile(r"read.?only", re.IGNORECASE)


class Settled(NamedTuple):
    op: Op
    status: Status
    contact: Contact | None
    error: BaseException | None


def stop_level(op: Op, error: BaseException, scope: Scope) -> Literal["run", "account"] | None:
    """Whether ``error`` will fail every later item: of the run, of the account, or neither."""
    if isinstance(error, AuthenticationError | AuthRefreshError):
        return "run"
    if isinstance(error, ClientClosedError | WrongEventLoopError):
        return "run"  # nothing more can be sent through this client
    if isinstance(error, NotFoundError) and op.kind == "upsert":
        return "account"  # PUT .../upsert names no contact: the account is unknown
    if isinstance(error, PermissionDeniedError) and not scope.wrote:
        record_level = any(READ_ONLY.search(s or "") for s in (error.code, error.message))
        return None if record_level else "account"
    return None


def stops_run(
    op: Op, error: BillabexError, scope: Scope, report: BulkReport, *, per_account: bool
) -> bool:
    """Record in ``scope`` and ``report`` the stop ``error`` calls for; True if the run stops.

    ``per_account``: a refused account stops its own items only, not the run.
    """
    level = stop_level(op, error, scope)
    if level is None or scope.stopped is not None:
        return False
    scope.stopped = error
    report.stopped_accounts[op.account] = error
    if level == "account" and per_account:
        status = getattr(error, "status", None)
        logger.warning("bulk: giving up on account %s after a %s", op.account, status)
        return False
    return True


def interrupted(op: Op) -> OutcomeUnknownError:
    """The failure of an op cut off in flight: it may or may not have reached the server."""
    target = next(iter(op.ids), "?") if op.kind == "delete" else "upsert"
    return OutcomeUnknownError(
        "cancelled while in flight: it may or may not have been applied",
        method="DELETE" if op.kind == "delete" else "PUT",
        path=f"/accounts/{op.account}/contacts/{target}",
        idempotency_key=op.idempotency_key,
        body=None if op.kind == "delete" else write_body(op.item),
    )


def account_key(account_id: str | UUID) -> str:
    """The account id in canonical form: the key its conflicts and early stops go by."""
    # Not a UUID: the upsert call rejects it, per item.
    return canonical_uuid(account_id) or str(account_id)
