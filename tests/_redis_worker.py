"""Test helper: the many-workers scenario, parent side (``spawn_workers``) and child side.

As a script, ``python tests/_redis_worker.py '<json>'`` upserts ``count``
distinct contacts starting at ``start`` through a BillabexClient whose rate
limit uses ``storage`` (a redis URL, or "memory" for the contrast),
``concurrency`` at a time, then prints one JSON line:
{"succeeded": n, "failed": n, "errors": [...]}.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from billabex_async import BillabexClient, ContactUpsert, RateLimit

ROOT = Path(__file__).resolve().parents[1]


def contact_for(n: int) -> ContactUpsert:
    """Contact ``n``: names far apart (upsert matches names within 2 edits) and a unique email."""
    tag = hashlib.sha256(str(n).encode()).hexdigest()[:12]
    return ContactUpsert(full_name=f"Contact {tag}", language="en", email=f"c{n}@example.com")


async def run(job: dict[str, Any]) -> dict[str, Any]:
    rate_limit = RateLimit(job["limit"], job["window"], storage=job["storage"])
    items: Iterator[int] = iter(range(job["start"], job["start"] + job["count"]))
    succeeded = 0
    errors: list[str] = []
    async with BillabexClient(
        token=job["token"], base_url=job["base_url"], rate_limit=rate_limit
    ) as client:

        async def lane() -> None:
            nonlocal succeeded
            for n in items:  # the lanes share one iterator: each item goes out once
                try:
                    await client.contacts.upsert(job["account_id"], contact_for(n))
                    succeeded += 1
                except Exception as exc:  # noqa: BLE001 - counted and reported, not lost
                    errors.append(f"{n}: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(lane() for _ in range(job["concurrency"])))
    return {"succeeded": succeeded, "failed": len(errors), "errors": errors[:5]}


@attrs.frozen
class ScenarioResult:
    """What the workers reported and what the server saw, for one run."""

    succeeded: int
    failed: int
    errors: list[str]
    wall: float  # seconds from spawning the workers to the last one exiting


async def spawn_workers(
    *,
    base_url: str,
    token: str,
    account_id: str,
    storage: str,
    limit: int,
    window: float,
    workers: int,
    per_worker: int,
    concurrency: int,
    max_seconds: float = 180.0,
) -> ScenarioResult:
    """Run ``workers`` processes of this script, each upserting its own ``per_worker`` contacts."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    procs = []
    for w in range(workers):
        job = {
            "base_url": base_url,
            "token": token,
            "account_id": account_id,
            "storage": storage,
            "limit": limit,
            "window": window,
            "start": w * per_worker,
            "count": per_worker,
            "concurrency": concurrency,
        }
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                json.dumps(job),
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
        )
    try:
        outputs = await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in procs)), max_seconds
        )
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    wall = time.monotonic() - started
    succeeded = failed = 0
    errors: list[str] = []
    for p, (out, _) in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"worker exited with {p.returncode}")
        report = json.loads(out.decode().strip().splitlines()[-1])
        succeeded += report["succeeded"]
        failed += report["failed"]
        errors += report["errors"]
    return ScenarioResult(succeeded, failed, errors, wall)


def main() -> None:
    job = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(run(job))))  # the parent reads this line


if __name__ == "__main__":
    main()
