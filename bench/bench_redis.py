"""Bench: four worker processes, one token: the Redis-shared window against per-process ones.

Run from the repository root (needs redis-server and the ``redis`` extra)::

    python bench/bench_redis.py [--limit 60] [--window 2.0] [--per-worker 150]

Each scenario starts a fresh FakeBillabex (the server's own sliding window,
429 + Retry-After) and four processes of ``tests/_redis_worker.py``, each
upserting its own contacts eight at a time, with ``RateLimit(limit, window)``
kept either in Redis (shared) or in each process's memory (the contrast).
Utilisation is the accepted sends per second after the first window's burst,
divided by ``limit / window``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests._redis*

from billabex_async import RateLimit
from billabex_async.testing import FakeBillabex
from tests._redis import find_redis_server, redis_server
from tests._redis_worker import contact_for, spawn_workers

WORKERS = 4
CONCURRENCY = 8


@attrs.frozen
class Row:
    """One scenario's outcome, as the server saw it."""

    name: str
    requests: int
    rate_limited: int
    max_in_window: int
    lost: int
    duplicates: int
    failed: int
    utilisation: float
    wall: float


async def scenario(name: str, storage: str, limit: int, window: float, per_worker: int) -> Row:
    async with FakeBillabex(rate_limit=RateLimit(limit, window)) as fake:
        result = await spawn_workers(
            base_url=fake.url,
            token=fake.token,
            account_id=fake.account_id,
            storage=storage,
            limit=limit,
            window=window,
            workers=WORKERS,
            per_worker=per_worker,
            concurrency=CONCURRENCY,
        )
        stored = [c.email.address for c in fake.contacts(fake.account_id) if c.email is not None]
        accepted = sorted(r.time for r in fake.requests if r.status is not None and r.status < 300)
        stats = fake.stats
    expected = {str(contact_for(n).email) for n in range(WORKERS * per_worker)}
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    utilisation = (len(accepted) - limit) / span / (limit / window) if span else 0.0
    return Row(
        name=name,
        requests=stats.requests,
        rate_limited=stats.rate_limited,
        max_in_window=stats.max_in_window,
        lost=len(expected - set(stored)),
        duplicates=len(stored) - len(set(stored)),
        failed=result.failed,
        utilisation=utilisation,
        wall=result.wall,
    )


def table(rows: list[Row], limit: int, window: float, per_worker: int) -> str:
    head = (
        f"{WORKERS} processes x {per_worker} upserts, concurrency {CONCURRENCY} each, "
        f"server limit {limit} per {window:g}s\n"
    )
    cols = f"{'limiter':<26}{'requests':>9}{'429s':>6}{'max/win':>9}{'lost':>6}"
    cols += f"{'dups':>6}{'failed':>8}{'util':>7}{'wall s':>8}"
    lines = [head, cols, "-" * len(cols)]
    for r in rows:
        lines.append(
            f"{r.name:<26}{r.requests:>9}{r.rate_limited:>6}{r.max_in_window:>6}/{limit:<2}"
            f"{r.lost:>6}{r.duplicates:>6}{r.failed:>8}{r.utilisation:>7.2f}{r.wall:>8.1f}"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--per-worker", type=int, default=150)
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        sys.exit("redis-server not found: apt-get install redis-server (or set REDIS_SERVER)")
    with redis_server(binary) as url:
        rows = [
            await scenario("redis (shared window)", url, args.limit, args.window, args.per_worker),
            await scenario(
                "memory (one per process)", "memory", args.limit, args.window, args.per_worker
            ),
        ]
    print(table(rows, args.limit, args.window, args.per_worker))


if __name__ == "__main__":
    asyncio.run(main())
