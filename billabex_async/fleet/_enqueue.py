"""Fleet layer: put an account's sync on the queue, and read its progress and result."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import attrs
from arq.connections import ArqRedis
from arq.constants import result_key_prefix
from arq.jobs import Job, JobStatus
from redis.asyncio import Redis

from billabex_async.auth import RedisTokenStore
from billabex_async.errors import InvalidRequestError
from billabex_async.fleet import _serialize
from billabex_async.fleet._job import SYNC_OPTIONS
from billabex_async.fleet._keys import (
    DEFAULT_PREFIX,
    DEFAULT_QUEUE,
    JOB_FUNCTION,
    job_id,
    progress_key,
    token_key,
)
from billabex_async.fleet._sources import check_source

__all__ = ["JobState", "connect", "enqueue_account", "job_state", "token_store"]


async def connect(redis_url: str) -> ArqRedis:
    """An arq connection to the fleet's Redis, speaking its JSON job format.

    Args:
        redis_url: The fleet's Redis, ``redis://host:port/db``.
    """
    from arq import create_pool
    from arq.connections import RedisSettings

    return await create_pool(
        RedisSettings.from_dsn(redis_url),
        job_serializer=_serialize.dumps,
        job_deserializer=_serialize.loads,
    )


def token_store(redis: Redis, tenant: str, *, prefix: str = DEFAULT_PREFIX) -> RedisTokenStore:
    """The store a fleet without ``credentials=`` reads ``tenant``'s OAuth credentials from.

    ``await token_store(redis, "acme").save(await login(...))`` once per tenant.

    Args:
        redis: A redis-py asyncio client (``connect`` gives one).
        tenant: The tenant's name.
        prefix: The fleet's key prefix, as given to ``worker_settings``.
    """
    return RedisTokenStore(redis, key=token_key(prefix, tenant))


async def enqueue_account(
    redis: ArqRedis,
    tenant: str,
    account_id: str | UUID,
    source: str,
    *,
    queue_name: str = DEFAULT_QUEUE,
    replace_finished: bool = True,
    **sync_options: Any,
) -> Job | None:
    """Queue the sync of ``account_id`` for ``tenant`` from ``source``; None if already queued.

    The job id is ``job_id(tenant, account_id)``: while that account's job is
    queued or running, enqueueing it again does nothing (None), so one
    account is never synced twice at once. A finished job keeps its result;
    ``replace_finished`` (the default) clears it so the account can be synced
    again, else None is returned. ``sync_options`` are ``contacts.sync``
    keywords (``delete_missing``, ``max_deletes``...). Bad input raises
    InvalidRequestError before anything reaches Redis.

    Args:
        redis: The fleet's queue, from ``connect``.
        tenant: The tenant whose account it is.
        account_id: The account's UUID.
        source: Where the desired contacts come from: a file path, an
            ``http(s)://`` URL or ``fn:NAME`` (a source the workers register).
        queue_name: The arq queue the workers read.
        replace_finished: Clear a finished job's result so the account runs again.
        sync_options: ``contacts.sync`` keywords for the job.
    """
    job = job_id(tenant, account_id)
    check_source(source)
    unknown = set(sync_options) - SYNC_OPTIONS
    if unknown:
        raise InvalidRequestError(
            f"unknown sync option(s): {', '.join(sorted(unknown))}", field="sync_options"
        )
    if replace_finished:
        status = await Job(job, redis, _queue_name=queue_name).status()
        if status is JobStatus.complete:
            await redis.delete(result_key_prefix + job)
    account = str(UUID(str(account_id)))
    return await redis.enqueue_job(
        JOB_FUNCTION,
        tenant,
        account,
        source,
        dict(sync_options),
        _job_id=job,
        _queue_name=queue_name,
    )


@attrs.frozen(kw_only=True)
class JobState:
    """What Redis knows of an account's job: arq's status, our progress, the result."""

    job_id: str
    status: str
    """arq's: queued, deferred, in_progress, complete or not_found."""
    progress: dict[str, str]
    """The latest try's progress hash (state, try, worker, done, total, counts)."""
    result: Any = None
    """The job's return value once complete: the sync's counts (JSON)."""
    success: bool | None = None


async def job_state(
    redis: ArqRedis,
    tenant: str,
    account_id: str | UUID,
    *,
    queue_name: str = DEFAULT_QUEUE,
    prefix: str = DEFAULT_PREFIX,
) -> JobState:
    """The account's job as Redis holds it now.

    Args:
        redis: The fleet's queue, from ``connect``.
        tenant: The tenant whose account it is.
        account_id: The account's UUID.
        queue_name: The arq queue the workers read.
        prefix: The fleet's key prefix, as given to ``worker_settings``.
    """
    job = job_id(tenant, account_id)
    arq_job = Job(job, redis, _queue_name=queue_name, _deserializer=_serialize.loads)
    status = await arq_job.status()
    raw: dict[bytes, bytes] = await redis.hgetall(progress_key(prefix, job))  # type: ignore[misc]
    progress = {k.decode(): v.decode() for k, v in raw.items()}
    info = await arq_job.result_info() if status is JobStatus.complete else None
    return JobState(
        job_id=job,
        status=status.value,
        progress=progress,
        result=None if info is None else info.result,
        success=None if info is None else info.success,
    )
