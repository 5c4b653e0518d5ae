"""Fleet layer: job ids and Redis key names, one per (tenant, account).

The job id is the account's lock: arq refuses to enqueue an id that is
queued, running or holds a result, and runs an id on one worker at a time,
so two workers never sync one account at once.
"""

from __future__ import annotations

from urllib.parse import quote, unquote
from uuid import UUID

from billabex_async.errors import InvalidRequestError

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_QUEUE",
    "JOB_FUNCTION",
    "check_tenant",
    "events_key",
    "job_id",
    "parse_job_id",
    "progress_key",
    "token_key",
]

DEFAULT_QUEUE = "billabex:fleet:queue"
DEFAULT_PREFIX = "billabex:fleet"
JOB_FUNCTION = "billabex_sync_account"
"""The name the sync job is registered under in the worker."""
MAX_TENANT_LENGTH = 200


def check_tenant(tenant: object) -> str:
    """``tenant`` if it is a usable tenant name, else InvalidRequestError."""
    if not isinstance(tenant, str) or not tenant.strip():
        raise InvalidRequestError("tenant must be a non-empty string", field="tenant")
    if len(tenant) > MAX_TENANT_LENGTH or not tenant.isprintable():
        raise InvalidRequestError(
            f"tenant must be at most {MAX_TENANT_LENGTH} printable characters", field="tenant"
        )
    return tenant


def _account(account_id: object) -> str:
    try:
        return str(UUID(str(account_id)))
    except ValueError:
        raise InvalidRequestError("account_id must be a UUID", field="account_id") from None


def job_id(tenant: str, account_id: str | UUID) -> str:
    """``sync:{tenant}:{account}``: the tenant percent-quoted, the account canonical.

    Args:
        tenant: The tenant's name (non-empty, printable).
        account_id: The account's UUID, as a string or ``UUID``.
    """
    return f"sync:{quote(check_tenant(tenant), safe='')}:{_account(account_id)}"


def parse_job_id(value: str) -> tuple[str, str]:
    """(tenant, account_id) of a ``job_id``; InvalidRequestError for anything else.

    Args:
        value: A job id, as ``job_id`` builds it.
    """
    kind, _, rest = value.partition(":")
    tenant, _, account = rest.rpartition(":")
    if kind != "sync" or not tenant:
        raise InvalidRequestError(f"not a fleet job id: {value!r}", field="job_id")
    return unquote(tenant), _account(account)


def progress_key(prefix: str, job: str) -> str:
    """The hash holding a job's live progress and final counts.

    Args:
        prefix: The fleet's key prefix (``DEFAULT_PREFIX`` unless configured).
        job: The job's id (``job_id``).
    """
    return f"{prefix}:progress:{job}"


def events_key(prefix: str) -> str:
    """The stream every worker appends job events to (started, progress, finished).

    Args:
        prefix: The fleet's key prefix (``DEFAULT_PREFIX`` unless configured).
    """
    return f"{prefix}:events"


def token_key(prefix: str, tenant: str) -> str:
    """Where the fleet's token store keeps ``tenant``'s OAuth credentials.

    Args:
        prefix: The fleet's key prefix (``DEFAULT_PREFIX`` unless configured).
        tenant: The tenant's name.
    """
    return f"{prefix}:tokens:{quote(check_tenant(tenant), safe='')}"
