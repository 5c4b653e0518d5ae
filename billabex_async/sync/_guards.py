"""Sync layer: the guards that stop a sync from deleting what it should not.

Checked on the plan, before anything is sent: a delete_missing run with no
desired item (an exhausted iterator looks exactly like that), more deletes
than allowed, an account left with no contact. A dry run lists the
refusals; a real run raises ``SyncRefusedError`` for them and writes nothing.
"""

from __future__ import annotations

from billabex_async.errors import InvalidRequestError, SyncRefusedError
from billabex_async.sync._model import GuardRefusal

__all__ = [
    "DEFAULT_MAX_DELETES",
    "DEFAULT_MAX_DELETE_SHARE",
    "check_delete_limits",
    "delete_limit",
    "empty_account_reason",
    "plan_refusals",
    "refused",
]

DEFAULT_MAX_DELETES = 5
"""Without ``max_deletes``/``max_delete_share``: a run may delete this many contacts..."""
DEFAULT_MAX_DELETE_SHARE = 0.10
"""... or this share of the listed contacts, whichever is more."""

# Said wherever deleting an account's last contact comes up: Billabex's
# dunning agent stops following up an account without contacts.
_EMPTY_ACCOUNT_COST = "Billabex pauses its dunning follow-ups for an account without contacts"


def check_delete_limits(max_deletes: int | None, max_delete_share: float | None) -> None:
    """Raise ``InvalidRequestError`` unless the limits are None, a count >= 0, a share in [0, 1]."""
    if max_deletes is not None and (
        isinstance(max_deletes, bool) or not isinstance(max_deletes, int) or max_deletes < 0
    ):
        raise InvalidRequestError(
            f"max_deletes must be an integer >= 0 or None, got {max_deletes!r}",
            field="max_deletes",
        )
    if max_delete_share is not None and (
        isinstance(max_delete_share, bool)
        or not isinstance(max_delete_share, int | float)
        or not 0 <= max_delete_share <= 1
    ):
        raise InvalidRequestError(
            f"max_delete_share must be a number between 0 and 1 or None, got {max_delete_share!r}",
            field="max_delete_share",
        )


def delete_limit(
    listed: int, max_deletes: int | None, max_delete_share: float | None
) -> tuple[int, str]:
    """The most contacts one run may delete, and how to say where that number comes from.

    Given both limits, both hold (the smaller wins). Given neither, the
    default: ``max(DEFAULT_MAX_DELETES, DEFAULT_MAX_DELETE_SHARE * listed)``.
    """
    if max_deletes is None and max_delete_share is None:
        limit = max(DEFAULT_MAX_DELETES, int(listed * DEFAULT_MAX_DELETE_SHARE))
        share = f"{DEFAULT_MAX_DELETE_SHARE:.0%}"
        return limit, f"the default: {DEFAULT_MAX_DELETES} or {share} of the listed, the larger"
    limits: list[tuple[int, str]] = []
    if max_deletes is not None:
        limits.append((max_deletes, f"max_deletes={max_deletes}"))
    if max_delete_share is not None:
        share_limit = int(listed * max_delete_share + 1e-9)  # 0.1 * 30 is 3, not 2.99...
        limits.append((share_limit, f"max_delete_share={max_delete_share} of {listed} listed"))
    return min(limits)


def plan_refusals(
    *,
    desired: int,
    listed: int,
    deletes: int,
    creates: int,
    max_deletes: int | None,
    max_delete_share: float | None,
    allow_empty_account: bool,
) -> list[GuardRefusal]:
    """The guards a delete_missing plan trips, from its counts (deletes: those to send)."""
    refusals: list[GuardRefusal] = []
    if desired == 0:
        refusals.append(
            GuardRefusal(
                "empty_desired",
                "delete_missing with no desired item would delete every contact of the "
                "account (was the iterator already consumed, by a dry run say? a generator "
                "can be read only once); no keyword allows it: delete contacts one by one",
                None,
                deletes,
                0,
            )
        )
    if deletes and deletes == listed and creates == 0 and not allow_empty_account:
        refusals.append(
            GuardRefusal(
                "empty_account",
                f"this sync would delete all {listed} contact(s) of the account and leave it "
                f"empty ({_EMPTY_ACCOUNT_COST}): pass allow_empty_account=True to allow it",
                "allow_empty_account",
                deletes,
                listed - 1,
            )
        )
    limit, source = delete_limit(listed, max_deletes, max_delete_share)
    if deletes > limit:
        refusals.append(
            GuardRefusal(
                "max_deletes",
                f"this sync would delete {deletes} of {listed} contact(s), more than the "
                f"limit of {limit} ({source}): pass max_deletes={deletes} (or more) to allow it",
                "max_deletes",
                deletes,
                limit,
            )
        )
    return refusals


def refused(refusals: list[GuardRefusal]) -> SyncRefusedError:
    """The error a real run raises for a refused plan: the first guard, every message."""
    first = refusals[0]
    message = "; ".join(r.message for r in refusals) + ". Nothing was sent."
    return SyncRefusedError(
        message, guard=first.guard, field=first.override, count=first.count, limit=first.limit
    )


def empty_account_reason(listed: int) -> str:
    """Why the delete phase was held back when it would leave the account empty."""
    return (
        f"the deletes would leave the account with none of its {listed} contact(s) "
        f"({_EMPTY_ACCOUNT_COST}): pass allow_empty_account=True to allow it"
    )
