"""Fleet layer: the job that syncs one account of one tenant from a named source.

Sync is idempotent (it lists the account, then upserts only what differs,
and Billabex matches upserts to existing contacts), so a try that a killed
worker left half done is finished by the next try without duplicates: arq
runs the job again once the dead worker's claim expires (job timeout + 10 s).
Transient failures (the network, 5xx or 429 past the client's retries, the
shared limiter's Redis) retry the job with a backoff; anything else fails
it, with the error in the job's result.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NoReturn

from arq import Retry

from billabex_async import errors
from billabex_async.fleet._keys import check_tenant
from billabex_async.fleet._progress import ProgressWriter, worker_name
from billabex_async.fleet._runtime import Runtime
from billabex_async.fleet._sources import SourceError, open_source
from billabex_async.sync import SyncResult

__all__ = ["RUNTIME", "SYNC_OPTIONS", "retry_delay", "summary", "sync_account"]

logger = logging.getLogger("billabex_async")

RUNTIME = "billabex_fleet"
"""Where the worker's Runtime sits in arq's ``ctx``."""
SYNC_OPTIONS = frozenset(
    {"delete_missing", "max_deletes", "max_delete_share", "allow_empty_account", "concurrency"}
)
"""The ``contacts.sync`` keywords a job may carry."""
TRANSIENT = (
    errors.APIConnectionError,  # timeouts and unknown outcomes included
    errors.InternalServerError,
    errors.RateLimitError,
    errors.RateLimiterUnavailableError,
)
MAX_FAILURES_KEPT = 20  # failed rows listed in a result (all are counted)
RETRY_BASE = 5.0  # seconds before the second try after a transient failure
RETRY_CAP = 300.0


def retry_delay(job_try: int) -> float:
    """Seconds before try ``job_try + 1``: 5, 10, 20 ... at most 5 minutes."""
    return float(min(RETRY_CAP, RETRY_BASE * 2 ** max(0, job_try - 1)))


def _error(exc: BaseException) -> dict[str, object]:
    status = getattr(exc, "status", None)
    return {"error": type(exc).__name__, "status": status, "message": str(exc)[:500]}


def summary(result: SyncResult) -> dict[str, Any]:
    """A sync's outcome as JSON: counts, and the first failures (never contact data)."""
    return {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "deleted": result.deleted,
        "listed": result.listed,
        "failed": len(result.failed),
        "not_attempted": result.not_attempted,
        "deletes_skipped": result.deletes_skipped,
        "failures": [
            {"index": f.index, **_error(f.error)} for f in result.failed[:MAX_FAILURES_KEPT]
        ],
        "error": None if result.error is None else _error(result.error),
    }


def _transient(result: SyncResult) -> BaseException | None:
    if isinstance(result.error, TRANSIENT):
        return result.error
    return next((f.error for f in result.failed if isinstance(f.error, TRANSIENT)), None)


async def sync_account(
    ctx: dict[str, Any], tenant: str, account_id: str, source: str, options: dict[str, Any]
) -> dict[str, Any]:
    """The job: sync ``account_id`` of ``tenant`` from ``source``; its result, as JSON."""
    runtime: Runtime = ctx[RUNTIME]
    config = runtime.config
    job_id, job_try = str(ctx["job_id"]), int(ctx["job_try"])
    check_tenant(tenant)
    progress = ProgressWriter(
        runtime.redis,
        prefix=config.prefix,
        job_id=job_id,
        fields={
            "tenant": tenant,
            "account_id": account_id,
            "try": job_try,
            "worker": worker_name(),
        },
        ttl=config.keep_result,
    )
    await progress.start()
    head: dict[str, Any] = {"tenant": tenant, "account_id": account_id, "try": job_try}
    try:
        async with (
            open_source(
                source,
                tenant,
                account_id,
                registered=config.sources,
                session=runtime.session,
                max_download_bytes=config.max_download_bytes,
            ) as desired,
            runtime.pool.client(tenant) as client,
        ):
            sync_options = {k: v for k, v in options.items() if k in SYNC_OPTIONS}
            result = await client.contacts.sync(
                account_id, desired, on_progress=progress.update, **sync_options
            )
    except (SourceError, *TRANSIENT) as exc:
        if isinstance(exc, SourceError) and not exc.transient:
            await progress.finish("failed", {"error": _error(exc)})
            raise
        await _retry(progress, exc, job_try)
    except asyncio.CancelledError:
        # Past the job timeout (arq records the try as failed), or the worker stops.
        progress.stop()
        raise
    except Exception as exc:
        await progress.finish("failed", {"error": _error(exc)})
        raise
    counts = {**head, **summary(result)}
    transient = _transient(result)
    if transient is not None:
        await _retry(progress, transient, job_try, counts)
    await progress.finish("complete" if result.ok else "partial", counts)
    return counts


async def _retry(
    progress: ProgressWriter,
    exc: BaseException,
    job_try: int,
    counts: dict[str, Any] | None = None,
) -> NoReturn:
    """Record the try as retrying, and have arq run the job again after a backoff."""
    delay = retry_delay(job_try)
    logger.info("fleet: try %d failed (%s), again in %.0f s", job_try, type(exc).__name__, delay)
    await progress.finish("retrying", {**(counts or {}), "error": _error(exc)})
    raise Retry(defer=delay) from exc
