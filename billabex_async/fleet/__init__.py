"""Fleet layer: many tenants' accounts synced by a pool of workers on an arq queue.

An optional extra (``pip install 'billabex-async[fleet]'``: arq and redis)::

    # worker.py, run with `arq worker.WorkerSettings` on every machine
    WorkerSettings = worker_settings(
        redis_url="redis://redis:6379/0", credentials=token_of, rate_limit=RateLimit(300, 60.0)
    )

    # anywhere: one job per (tenant, account), never two at once
    redis = await connect("redis://redis:6379/0")
    await enqueue_account(redis, "acme", account_id, "https://bucket/acme/contacts.csv")

Each tenant's rate limit lives in Redis and holds across every worker;
clients of one worker share one connection pool; a killed worker's job is
run again and converges, since sync is idempotent.
"""

from __future__ import annotations

try:
    import arq  # noqa: F401 - checked here so the message names the extra
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    raise ModuleNotFoundError(
        "billabex_async.fleet needs the fleet extra: pip install 'billabex-async[fleet]'",
        name="arq",
    ) from exc

from billabex_async.fleet._enqueue import (
    JobState,
    connect,
    enqueue_account,
    job_state,
    token_store,
)
from billabex_async.fleet._job import retry_delay
from billabex_async.fleet._keys import (
    DEFAULT_PREFIX,
    DEFAULT_QUEUE,
    JOB_FUNCTION,
    events_key,
    job_id,
    parse_job_id,
    progress_key,
    token_key,
)
from billabex_async.fleet._runtime import Credentials, tenant_limiter_key
from billabex_async.fleet._sources import Desired, Source, SourceError, check_source
from billabex_async.fleet._worker import worker_settings

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_QUEUE",
    "JOB_FUNCTION",
    "Credentials",
    "Desired",
    "JobState",
    "Source",
    "SourceError",
    "check_source",
    "connect",
    "enqueue_account",
    "events_key",
    "job_id",
    "job_state",
    "parse_job_id",
    "progress_key",
    "retry_delay",
    "tenant_limiter_key",
    "token_key",
    "token_store",
    "worker_settings",
]
