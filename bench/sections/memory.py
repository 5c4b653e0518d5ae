"""Section 4 (``memory``): peak memory of streaming work, each job in a fresh process."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass

from bench import BENCH, baseline
from bench.simulator import SimProcess

__all__ = ["MemoryRun", "run_memory"]

PROBE = "bench.sections.memory_probe"
"""The worker measuring one job, run with ``python -m`` in a fresh process."""
TIMEOUT = 150.0


@dataclass(frozen=True, slots=True)
class MemoryRun:
    what: str
    items: int
    seconds: float
    baseline_mb: float
    peak_mb: float
    added_mb: float
    peak_reset: bool
    """VmHWM was reset to the baseline before the work (else it may include import peaks)."""


async def _probe(what: str, mode: str, *, seed_contacts: int, arg: int) -> MemoryRun:
    async with SimProcess(seed_contacts=seed_contacts, seed=9) as sim:
        t = sim.target
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            PROBE,
            mode,
            t.url,
            t.token,
            t.account_id,
            str(arg),
            stdout=asyncio.subprocess.PIPE,
            env=baseline.env(None),
            cwd=BENCH,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe {mode} exited with {proc.returncode}")
    data = json.loads(out.decode().strip().splitlines()[-1])
    return MemoryRun(
        what=what,
        items=int(data["items"]),
        seconds=float(data["seconds"]),
        baseline_mb=float(data["baseline_mb"]),
        peak_mb=float(data["peak_mb"]),
        added_mb=float(data["added_mb"]),
        peak_reset=bool(data["peak_reset"]),
    )


async def run_memory(*, stop_after: int, iterate: int) -> list[MemoryRun]:
    """bulk_upsert over a 1,000,000-item generator cancelled after ``stop_after``; iterate."""
    return [
        await _probe(
            f"bulk_upsert, 1,000,000-item generator, cancelled after {stop_after:,}",
            "bulk",
            seed_contacts=0,
            arg=stop_after,
        ),
        await _probe(f"iterate over {iterate:,} contacts", "iterate", seed_contacts=iterate, arg=0),
    ]
