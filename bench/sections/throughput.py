"""Section 2 (``throughput``): upserts per second, no rate limit, the server in another process."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

from bench.contenders import Contender
from bench.people import Audit, audit, people
from bench.simulator import SimProcess, list_emails

__all__ = ["Round", "ThroughputRun", "run_round", "summarise"]

TIMEOUT = 120.0


@dataclass(slots=True)
class ThroughputRun:
    key: str
    label: str
    items: int
    wall: float
    """The best (shortest) of the rounds."""
    walls: list[float]
    cpu_us: float
    """Client CPU per upsert (this process only: the server runs in another), median of rounds."""
    server_cpu_us: float
    """The simulator process's CPU per upsert, median of rounds (0 when unknown)."""
    requests: int
    audit: Audit
    error: str | None = None

    @property
    def per_second(self) -> float:
        """Upserts stored per second of the best round."""
        return (self.items - self.audit.lost) / self.wall if self.wall > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Round:
    wall: float
    cpu: float
    server_cpu: float
    requests: int
    audit: Audit
    error: str | None


async def run_round(contender: Contender, *, n: int, latency: float, seed: int) -> Round:
    """One run of ``n`` fresh upserts against a fresh simulator process."""
    items = people(n, seed=seed, tag=f"{contender.key.lower()}{seed}-")
    sim = SimProcess(latency=latency, seed=seed)
    async with sim:
        error = None
        start = time.perf_counter()
        cpu = time.process_time()
        server_cpu = sim.cpu_seconds()
        try:
            await asyncio.wait_for(contender.run(sim.target, items, None), TIMEOUT)
        except TimeoutError:
            error = f"timed out after {TIMEOUT:g} s"
        except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal to the bench
            error = f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        server_cpu = sim.cpu_seconds() - server_cpu
        emails, pages = await list_emails(sim.target)
    # The audit's own GETs are not the contender's.
    return Round(wall, cpu, server_cpu, sim.requests - pages, audit(items, emails), error)


def summarise(contender: Contender, n: int, rounds: list[Round]) -> ThroughputRun:
    """The fastest round that finished without an error stands for the contender."""
    best = min(rounds, key=lambda r: (r.error is not None, r.wall))
    return ThroughputRun(
        key=contender.key,
        label=contender.label,
        items=n,
        wall=best.wall,
        walls=[r.wall for r in rounds],
        cpu_us=statistics.median(r.cpu for r in rounds) / n * 1e6,
        server_cpu_us=statistics.median(r.server_cpu for r in rounds) / n * 1e6,
        requests=best.requests,
        audit=best.audit,
        error=best.error,
    )
