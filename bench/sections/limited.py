"""Section 1 (``limited``): upserts under a compressed rate limit, counted by the server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.contenders import Contender
from bench.people import Audit, audit, people
from bench.simulator import Target
from billabex_async import RateLimit
from billabex_async.testing import FakeBillabex

__all__ = ["LimitedRun", "run_limited", "utilisation"]

TIMEOUT = 90.0
"""Seconds a contender may take before it is stopped and reported as timed out."""


@dataclass(slots=True)
class LimitedRun:
    key: str
    label: str
    items: int
    wall: float
    requests: int
    rejected: int
    ok: int
    audit: Audit
    utilisation: float | None
    max_in_window: int
    error: str | None = None
    ok_times: list[float] = field(default_factory=list)
    """Arrivals of the admitted requests on the server, seconds from the first arrival."""
    rejected_times: list[float] = field(default_factory=list)


def utilisation(ok_times: list[float], limit: RateLimit) -> float | None:
    """How much of the limit the admitted requests used, from 0 to 1.

    The first window's ``limit`` requests are free at t=0 (a sliding window
    starts empty), so over a run of a few windows the plain rate overstates
    it: the remaining admitted requests per second over the rest of the run,
    divided by ``limit / window``. An ideal client scores 1.0.
    """
    if len(ok_times) <= limit.requests:
        return None
    span = ok_times[-1] - ok_times[0]
    if span <= 0:
        return None
    return (len(ok_times) - limit.requests) / span / (limit.requests / limit.window)


async def run_limited(
    contender: Contender,
    *,
    n: int,
    limit: RateLimit,
    latency: float,
    jitter: float,
    seed: int,
) -> LimitedRun:
    """One contender against a fresh simulator (fresh token, empty windows)."""
    items = people(n, seed=seed, tag=contender.key.lower())
    async with FakeBillabex(rate_limit=limit, latency=latency, jitter=jitter, seed=seed) as fake:
        target = Target(fake.url, fake.token, fake.account_id)
        error = None
        start = time.perf_counter()
        try:
            await asyncio.wait_for(contender.run(target, items, limit), TIMEOUT)
        except TimeoutError:
            error = f"timed out after {TIMEOUT:g} s"
        except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal to the bench
            error = f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - start
        log = fake.requests
        stats = fake.stats
        stored = [c.email.address if c.email else None for c in fake.contacts(fake.account_id)]
    t0 = log[0].time if log else 0.0
    ok_times = [r.time - t0 for r in log if r.status is not None and 200 <= r.status < 300]
    rejected_times = [r.time - t0 for r in log if r.status == 429]
    return LimitedRun(
        key=contender.key,
        label=contender.label,
        items=n,
        wall=wall,
        requests=stats.requests,
        rejected=stats.rate_limited,
        ok=len(ok_times),
        audit=audit(items, stored),
        utilisation=utilisation(ok_times, limit),
        max_in_window=stats.max_in_window,
        error=error,
        ok_times=ok_times,
        rejected_times=rejected_times,
    )
