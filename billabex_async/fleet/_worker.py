"""Fleet layer: arq worker settings that run the sync job against a shared pool.

``worker_settings(...)`` returns the dict arq's ``Worker`` takes (and the
``arq`` command reads): the job, JSON (de)serialisation, and startup and
shutdown hooks that open and close the process's Runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from arq import func
from arq.connections import RedisSettings

from billabex_async._types import RateLimit
from billabex_async.errors import InvalidRequestError
from billabex_async.fleet import _serialize
from billabex_async.fleet._job import RUNTIME, sync_account
from billabex_async.fleet._keys import DEFAULT_PREFIX, DEFAULT_QUEUE, JOB_FUNCTION
from billabex_async.fleet._runtime import Credentials, FleetConfig, Runtime
from billabex_async.fleet._sources import DEFAULT_MAX_DOWNLOAD_BYTES, Source

__all__ = ["worker_settings"]

DEFAULT_JOB_TIMEOUT = 3600.0  # seconds one try of one account may take
DEFAULT_MAX_TRIES = 5
DEFAULT_KEEP_RESULT = 7 * 86400.0  # seconds results and progress stay readable


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidRequestError(f"{name} must be a number > 0", field=name)
    return float(value)


def worker_settings(
    *,
    redis_url: str,
    credentials: Credentials | None = None,
    rate_limit: RateLimit | Callable[[str], RateLimit] = RateLimit(),  # noqa: B008 - frozen
    sources: Mapping[str, Source] | None = None,
    queue_name: str = DEFAULT_QUEUE,
    prefix: str = DEFAULT_PREFIX,
    max_jobs: int = 10,
    job_timeout: float = DEFAULT_JOB_TIMEOUT,
    max_tries: int = DEFAULT_MAX_TRIES,
    keep_result: float = DEFAULT_KEEP_RESULT,
    max_connections: int = 100,
    idle_timeout: float = 300.0,
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    burst: bool = False,
    poll_delay: float = 0.5,
    **client_options: Any,
) -> dict[str, Any]:
    """Settings for an arq worker of the fleet: ``arq yourmodule.WorkerSettings``.

    ``credentials(tenant)`` gives a tenant's token or TokenProvider; without
    it each tenant's OAuth credentials come from the fleet's token store
    (``token_store(redis, tenant)``: save them there once, after the login),
    refreshed single-flight across every worker;
    ``rate_limit`` is every tenant's limit, or ``tenant -> RateLimit``, kept in
    the fleet's Redis (``redis_url``) and shared by every worker. ``sources``
    registers async callables a job can name as ``fn:NAME``. A worker runs
    ``max_jobs`` accounts at once; a try that runs past ``job_timeout``
    seconds is cancelled, and a killed worker's job is taken up again
    ``job_timeout + 10`` s after it started (arq's claim on it expires),
    ``max_tries`` tries in all. Results and progress stay ``keep_result``
    seconds. ``client_options`` go to every client (``timeout=``,
    ``max_retries=``...). Raises InvalidRequestError on a bad setting.

    Args:
        redis_url: The fleet's Redis: queue, limits, tokens, progress.
        credentials: ``async (tenant) -> token or TokenProvider``; None reads
            the fleet's token store.
        rate_limit: Every tenant's limit, or ``tenant -> RateLimit``.
        sources: ``fn:NAME`` sources, by name.
        queue_name: The arq queue to read.
        prefix: The prefix of every key the fleet writes.
        max_jobs: Accounts one worker syncs at once.
        job_timeout: Seconds a try may run before it is cancelled.
        max_tries: Tries per job, the first included.
        keep_result: Seconds results and progress stay in Redis.
        max_connections: Connections the worker's shared pool holds.
        idle_timeout: Seconds an idle tenant's client lives before it is closed.
        max_download_bytes: Largest source a job downloads.
        burst: Stop the worker once the queue is empty (tests, cron runs).
        poll_delay: Seconds between polls of an empty queue.
        client_options: Keywords for every ``BillabexClient``.
    """
    if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
        raise InvalidRequestError("max_jobs must be an integer >= 1", field="max_jobs")
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
        raise InvalidRequestError("max_tries must be an integer >= 1", field="max_tries")
    if credentials is not None and not callable(credentials):
        raise InvalidRequestError("credentials must be an async callable", field="credentials")
    rule = rate_limit
    per_tenant = rule if callable(rule) else (lambda _tenant: rule)
    config = FleetConfig(
        redis_url=redis_url,
        credentials=credentials,
        rate_limit=per_tenant,
        sources=dict(sources or {}),
        prefix=prefix,
        keep_result=_positive("keep_result", keep_result),
        max_connections=max_connections,
        idle_timeout=_positive("idle_timeout", idle_timeout),
        client_options=dict(client_options),
        max_download_bytes=max_download_bytes,
    )

    async def on_startup(ctx: dict[str, Any]) -> None:
        runtime = Runtime(config)
        await runtime.start()
        ctx[RUNTIME] = runtime

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        runtime: Runtime | None = ctx.pop(RUNTIME, None)
        if runtime is not None:
            await runtime.close()

    return {
        "functions": [
            func(
                sync_account,
                name=JOB_FUNCTION,
                timeout=_positive("job_timeout", job_timeout),
                max_tries=max_tries,
            )
        ],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "queue_name": queue_name,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "max_jobs": max_jobs,
        "job_timeout": job_timeout,
        "keep_result": keep_result,
        "max_tries": max_tries,
        "burst": burst,
        "poll_delay": poll_delay,
        "job_serializer": _serialize.dumps,
        "job_deserializer": _serialize.loads,
    }
