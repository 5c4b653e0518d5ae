"""Redis section (``redis``): four worker processes on one token, the window in Redis or not.

    python -m bench --only redis [--limit 60] [--window 2.0] [--per-worker 150] [--quick]

Needs redis-server (on the PATH, or ``$REDIS_SERVER``) and the ``redis``
extra. Each scenario starts a fresh FakeBillabex (the server's own sliding
window, 429 + Retry-After) and four worker processes (this module with
``--worker``), each upserting its own contacts eight at a time, with
``RateLimit(limit, window)`` kept either in Redis (shared) or in each
process's memory (the contrast). Utilisation is the accepted sends per
second after the first window's burst, divided by ``limit / window``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import BENCH, baseline
from bench.people import Person, people
from bench.redis_server import find_binary, redis_server
from billabex_async import BillabexClient, ContactUpsert, RateLimit
from billabex_async.testing import FakeBillabex

__all__ = ["Row", "main", "scenario", "table"]

WORKERS = 4
CONCURRENCY = 8
SEED = 20_240_601
WORKER_TIMEOUT = 180.0  # seconds for every worker of one scenario to finish
QUICK = {"limit": 20, "window": 1.0, "per_worker": 20}
"""The smoke run's sizes: seconds, figures not to quote."""


def everyone(total: int) -> list[Person]:
    """All workers' people, in order: distinct names (upsert merges names within 2 edits)."""
    return people(total, seed=SEED, tag="r")


@dataclass(frozen=True, slots=True)
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


async def work(job: dict[str, Any]) -> dict[str, Any]:
    """In a worker process: upsert people ``start`` to ``start + count``, a few at once."""
    rate_limit = RateLimit(job["limit"], job["window"], storage=job["storage"])
    mine = everyone(job["total"])[job["start"] : job["start"] + job["count"]]
    gate = asyncio.Semaphore(job["concurrency"])
    async with BillabexClient(
        token=job["token"], base_url=job["base_url"], rate_limit=rate_limit
    ) as client:

        async def one(person: Person) -> str | None:
            """None when stored, else what went wrong (counted and reported, not lost)."""
            contact = ContactUpsert(
                full_name=person.full_name, language=person.language, email=person.email
            )
            async with gate:
                try:
                    await client.contacts.upsert(job["account_id"], contact)
                except Exception as exc:  # noqa: BLE001 - reported in the failed column
                    return f"{person.email}: {type(exc).__name__}: {exc}"
            return None

        outcomes = await asyncio.gather(*(one(person) for person in mine))
    errors = [outcome for outcome in outcomes if outcome is not None]
    return {"succeeded": len(outcomes) - len(errors), "failed": len(errors), "errors": errors[:5]}


async def _worker(job: dict[str, Any]) -> int:
    """One worker process for ``job``; how many of its upserts failed."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", __name__, "--worker", json.dumps(job)),
        stdout=asyncio.subprocess.PIPE,
        env=baseline.env(None),
        cwd=BENCH,
    )
    try:
        out, _ = await proc.communicate()
    finally:  # cancelled (the scenario timed out): the process goes too
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"worker exited with {proc.returncode}")
    failed: int = json.loads(out.decode().strip().splitlines()[-1])["failed"]
    return failed


async def _workers(jobs: list[dict[str, Any]]) -> tuple[int, float]:
    """Every job's worker at once; failed upserts summed, and the wall time of them all."""
    started = time.monotonic()
    async with asyncio.timeout(WORKER_TIMEOUT):
        failed = await asyncio.gather(*(_worker(job) for job in jobs))
    return sum(failed), time.monotonic() - started


async def scenario(name: str, storage: str, limit: int, window: float, per_worker: int) -> Row:
    total = WORKERS * per_worker
    async with FakeBillabex(rate_limit=RateLimit(limit, window)) as fake:
        jobs = [
            {
                "base_url": fake.url,
                "token": fake.token,
                "account_id": fake.account_id,
                "storage": storage,
                "limit": limit,
                "window": window,
                "total": total,
                "start": w * per_worker,
                "count": per_worker,
                "concurrency": CONCURRENCY,
            }
            for w in range(WORKERS)
        ]
        failed, wall = await _workers(jobs)
        stored = [c.email.address for c in fake.contacts(fake.account_id) if c.email is not None]
        accepted = sorted(r.time for r in fake.requests if r.status is not None and r.status < 300)
        stats = fake.stats
    expected = {p.email for p in everyone(total)}
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    utilisation = (len(accepted) - limit) / span / (limit / window) if span else 0.0
    return Row(
        name=name,
        requests=stats.requests,
        rate_limited=stats.rate_limited,
        max_in_window=stats.max_in_window,
        lost=len(expected - set(stored)),
        duplicates=len(stored) - len(set(stored)),
        failed=failed,
        utilisation=utilisation,
        wall=wall,
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench --only redis",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--per-worker", type=int, default=150)
    parser.add_argument("--quick", action="store_true", help="smoke sizes, figures not to quote")
    return parser


async def _both(args: argparse.Namespace, binary: str) -> list[Row]:
    async with redis_server(binary) as url:
        return [
            await scenario("redis (shared window)", url, args.limit, args.window, args.per_worker),
            await scenario(
                "memory (one per process)", "memory", args.limit, args.window, args.per_worker
            ),
        ]


def main(argv: Sequence[str] | None = None) -> int:
    """Both scenarios, printed as a table; 2 when there is no redis-server to run."""
    args = build_parser().parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    binary = find_binary()
    if binary is None:
        print(
            "redis-server not found: apt-get install redis-server (or set REDIS_SERVER)",
            file=sys.stderr,
        )
        return 2
    rows = asyncio.run(_both(args, binary))
    print(table(rows, args.limit, args.window, args.per_worker))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(asyncio.run(work(json.loads(sys.argv[2])))))  # the parent reads this
    else:
        sys.exit(main())
