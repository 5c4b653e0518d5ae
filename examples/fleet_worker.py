"""Example: one worker of a fleet syncing many tenants' accounts from an arq queue.

Run one per process, on as many machines as you like, all on one Redis::

    export BILLABEX_FLEET_REDIS=redis://localhost:6379/0
    export BILLABEX_FLEET_TOKENS=/run/secrets/tokens.json   # {"tenant": "access token", ...}
    python examples/fleet_worker.py        # or: arq fleet_worker.WorkerSettings

Jobs are queued with ``billabex_async.fleet.enqueue_account`` (see
examples/fleet_demo.py). Besides files and URLs, a job can name the source
``fn:people``, registered below: reproducible generated contacts, what
``make fleet-demo`` syncs for one of its tenants. Other settings:
``BILLABEX_FLEET_RATE`` (``300/60``: each tenant's limit), ``BILLABEX_FLEET_JOB_TIMEOUT``
(seconds), ``BILLABEX_FLEET_MAX_JOBS``, ``BILLABEX_FLEET_BURST=1`` (exit once
the queue is empty), and ``BILLABEX_BASE_URL``. Needs
``pip install 'billabex-async[fleet]'``.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any

from _people import people
from arq import run_worker

from billabex_async import ContactUpsert, RateLimit
from billabex_async.fleet import worker_settings

__all__ = ["WorkerSettings", "account_people", "rate_limit"]

PEOPLE_PER_ACCOUNT = int(os.environ.get("BILLABEX_FLEET_PEOPLE", "40"))


def account_people(tenant: str, account_id: str, n: int) -> list[ContactUpsert]:
    """The same ``n`` contacts for an account in every process (seeded by tenant and account)."""
    return list(people(n, seed=zlib.crc32(f"{tenant}/{account_id}".encode())))


async def people_source(tenant: str, account_id: str) -> list[ContactUpsert]:
    """The ``fn:people`` source."""
    return account_people(tenant, account_id, PEOPLE_PER_ACCOUNT)


def rate_limit(spec: str) -> RateLimit:
    """``"300/60"`` -> RateLimit(300, 60.0)."""
    requests, _, window = spec.partition("/")
    return RateLimit(int(requests), float(window or "60"))


def _tokens() -> dict[str, str]:
    path = os.environ.get("BILLABEX_FLEET_TOKENS")
    if not path:
        return {}
    tokens: dict[str, str] = json.loads(Path(path).read_text())
    return tokens


TOKENS = _tokens()


async def credentials(tenant: str) -> str:
    """The tenant's token; a KeyError (the job fails) for a tenant nobody configured."""
    return TOKENS[tenant]


WorkerSettings: dict[str, Any] = worker_settings(
    redis_url=os.environ.get("BILLABEX_FLEET_REDIS", "redis://localhost:6379/0"),
    credentials=credentials,
    rate_limit=rate_limit(os.environ.get("BILLABEX_FLEET_RATE", "300/60")),
    sources={"people": people_source},
    job_timeout=float(os.environ.get("BILLABEX_FLEET_JOB_TIMEOUT", "3600")),
    max_jobs=int(os.environ.get("BILLABEX_FLEET_MAX_JOBS", "10")),
    burst=os.environ.get("BILLABEX_FLEET_BURST") == "1",
    poll_delay=0.2,
    timeout=5.0,
)

if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("BILLABEX_FLEET_LOG", "WARNING"))
    run_worker(WorkerSettings)
