"""Simulator section (``simulator``): FakeBillabex upserts/s with 10,000 contacts in one account.

The simulator runs in a subprocess pinned to one core (when the OS allows it);
this process drives it with plain aiohttp at a fixed concurrency from the other
cores, with an upsert mix that exercises both matching paths:
50 % existing emails (dict hit), 25 % new emails (miss, then fuzzy name
match, usually a create), 25 % no email with a one-letter typo in an
existing name (fuzzy name match over all 10,000 names).

Prints wall-clock upserts/s and upserts per server CPU-second: on a shared
machine the second is the robust figure. Exits 1 below 1,000 per core.

    python -m bench --only simulator [--requests 5000] [--concurrency 32] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.simulator import API, SimProcess, list_pages, pin_self

__all__ = ["build_parser", "drive", "main"]

SERVER_CPU = 0
TARGET = 1000.0  # upserts/s
QUICK = {"requests": 300, "contacts": 1_000}
"""The smoke run's sizes: a few seconds, figures not to quote."""


def typo(name: str, rng: random.Random) -> str:
    i = rng.randrange(len(name))
    return name[:i] + rng.choice("aeiourst") + name[i + 1 :]


def plan(existing: list[dict[str, Any]], n: int, rng: random.Random) -> list[dict[str, Any]]:
    with_email = [c for c in existing if c["email"]]
    bodies: list[dict[str, Any]] = []
    for i in range(n):
        draw = rng.random()
        contact = rng.choice(with_email)
        if draw < 0.50:
            email = contact["email"]["address"]
            bodies.append({"fullName": contact["fullName"], "language": "en", "email": email})
        elif draw < 0.75:
            name = f"Bench Person {i} {rng.randrange(10**6)}"
            bodies.append({"fullName": name, "language": "fr", "email": f"new{i}@bench.example"})
        else:
            bodies.append({"fullName": typo(contact["fullName"], rng), "language": "de"})
    return bodies


async def drive(args: argparse.Namespace) -> float:
    """One measurement; returns upserts per second (per server CPU-second when known)."""
    profile = Path(args.profile) if args.profile else None
    sim = SimProcess(seed_contacts=args.contacts, seed=1, cpus={SERVER_CPU}, profile=profile)
    async with sim:
        print(f"client {pin_self(set(range(os.cpu_count() or 1)) - {SERVER_CPU})}")
        target = sim.target
        headers = {"Authorization": f"Bearer {target.token}"}
        existing = [node async for page in list_pages(target) for node in page]
        assert len(existing) == args.contacts, len(existing)
        bodies = plan(existing, args.requests, random.Random(2))
        statuses: collections.Counter[int] = collections.Counter()
        latencies: list[float] = []
        queue = iter(bodies)
        contacts = f"{target.url}{API}/accounts/{target.account_id}/contacts"
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

            async def worker() -> None:
                for body in queue:
                    sent = time.perf_counter()
                    async with session.put(contacts + "/upsert", json=body) as resp:
                        await resp.read()
                        statuses[resp.status] += 1
                    latencies.append(time.perf_counter() - sent)

            cpu_before = sim.cpu_seconds()
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - started
            cpu_after = sim.cpu_seconds()
    rate = float(args.requests / elapsed)
    p50, p99 = (statistics.quantiles(latencies, n=100)[i] * 1000 for i in (49, 98))
    print(f"server {sim.pinned}; {args.contacts} contacts; {args.concurrency} in flight")
    print(f"{args.requests} upserts in {elapsed:.2f} s: {rate:,.0f} upserts/s (wall clock)")
    print(f"statuses {dict(sorted(statuses.items()))}; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    judged, basis = rate, "wall clock"
    if cpu_after > cpu_before:  # both 0 without /proc
        # On a shared machine the wall clock measures the neighbours too; the
        # server's own CPU time says what one dedicated core sustains.
        busy = cpu_after - cpu_before
        judged, basis = args.requests / busy, "server CPU time"
        print(f"server CPU {busy:.2f} s: {judged:,.0f} upserts per CPU-second")
    verdict = "met" if judged >= TARGET else "MISSED"
    print(f"target {TARGET:,.0f} upserts/s on one core ({basis}): {verdict}")
    return judged


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench --only simulator",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--profile", metavar="PATH", help="cProfile the server into PATH")
    parser.add_argument("--quick", action="store_true", help="smoke sizes, no verdict to quote")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print; 1 when the rate is below TARGET (never for ``--quick``)."""
    args = build_parser().parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, min(getattr(args, name), value))
    rate = asyncio.run(drive(args))
    return 0 if rate >= TARGET or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
