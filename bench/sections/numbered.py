"""Sections 1 to 5: ours against the alternatives, measured in one run into one ``Results``.

1 ``limited`` (under a compressed rate limit, with its chart), 2
``throughput`` (no limit, best of rounds), 3 ``resync``, 4 ``memory``, 5
``models``. ``bench.report.render`` turns the ``Results`` into
bench/results.md. Needs the ``bench`` extra (aiolimiter, httpx,
openapi-python-client, matplotlib) for the contenders and the chart.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT
from bench.contenders import CONCURRENCY, Contender, contenders, ours_at
from bench.openapi import GeneratedClient, generate
from bench.report.charts import draw_ratelimited
from bench.report.environment import environment
from bench.report.results import Results, Settings
from bench.sections.limited import run_limited
from bench.sections.memory import run_memory
from bench.sections.models import run_model_cost
from bench.sections.resync import run_resync
from bench.sections.throughput import Round, run_round, summarise
from billabex_async import RateLimit

__all__ = ["QUICK_SETTINGS", "SETTINGS", "run"]

SPEC = ROOT / "openapi" / "contacts.yaml"
SEED = 20_240_601

SETTINGS = Settings(
    limit=RateLimit(100, 2.0),
    limited_items=400,
    limited_latency=0.002,
    limited_jitter=0.001,
    throughput_items=2_000,
    throughput_latency=0.002,
    throughput_rounds=5,
    resync_contacts=10_000,
    resync_share=0.01,
    memory_stop_after=20_000,
    memory_iterate=100_000,
    model_items=100_000,
    concurrency=CONCURRENCY,
)
QUICK_SETTINGS = dataclasses.replace(
    SETTINGS,
    limited_items=150,
    throughput_items=300,
    throughput_rounds=1,
    resync_contacts=1_000,
    resync_share=0.05,
    memory_stop_after=2_000,
    memory_iterate=2_000,
    model_items=5_000,
)
"""The smoke run's sizes (``--quick``): every section in seconds, figures not to quote."""


def say(message: str) -> None:
    """Progress on stderr: stdout stays free for the sections that print a table."""
    print(message, file=sys.stderr, flush=True)


def _generate(workdir: Path, results: Results) -> GeneratedClient | None:
    try:
        client = generate(SPEC, workdir)
    except Exception as exc:  # noqa: BLE001 - E is left out, and the report says why
        results.notes.append(f"E left out: the client could not be generated: {exc}")
        say(f"  openapi-python-client failed: {exc}")
        return None
    warnings = client.warnings or "none"
    say(f"  openapi-python-client {client.version}: generated, warnings: {warnings}")
    return client


async def _limited(field: list[Contender], results: Results) -> None:
    s = results.settings
    say(f"[1] under a {s.limit.requests}/{s.limit.window:g}s limit, {s.limited_items} upserts")
    for c in field:
        run = await run_limited(
            c,
            n=s.limited_items,
            limit=s.limit,
            latency=s.limited_latency,
            jitter=s.limited_jitter,
            seed=SEED,
        )
        say(
            f"  {c.key}: {run.wall:.2f} s, {run.requests} requests, {run.rejected} 429s, "
            f"{run.audit.lost} lost" + (f", error: {run.error}" if run.error else "")
        )
        results.limited.append(run)


async def _throughput(field: list[Contender], results: Results) -> None:
    s = results.settings
    field = [
        *field,
        Contender("A′", "billabex_async bulk_upsert (default concurrency 8)", ours_at(8)),
    ]
    say(f"[2] no limit, {s.throughput_items} upserts, best of {s.throughput_rounds} rounds")
    rounds: dict[str, list[Round]] = {c.key: [] for c in field}
    for r in range(s.throughput_rounds):
        for c in field:
            done = await run_round(
                c, n=s.throughput_items, latency=s.throughput_latency, seed=SEED + r
            )
            rounds[c.key].append(done)
            rate = s.throughput_items / done.wall
            say(f"  round {r + 1} {c.key}: {done.wall:.2f} s ({rate:,.0f}/s)")
    results.throughput = [summarise(c, s.throughput_items, rounds[c.key]) for c in field]


async def _resync(results: Results) -> None:
    s = results.settings
    say(f"[3] re-sync of {s.resync_contacts:,} contacts, {s.resync_share:.0%} changed")
    try:
        results.resync = await run_resync(
            contacts=s.resync_contacts, share=s.resync_share, concurrency=s.concurrency, seed=SEED
        )
    except Exception as exc:  # noqa: BLE001 - e.g. sync() missing: the rest still runs
        results.notes.append(f"Section 3 did not run: {type(exc).__name__}: {exc}")
        say(f"  failed: {exc!r}")
        return
    x = results.resync
    say(f"  sync: {x.sync.requests} requests, bulk_upsert: {x.bulk.requests} requests")


async def _memory(results: Results) -> None:
    s = results.settings
    say("[4] memory, each job in a fresh process")
    try:
        results.memory = await run_memory(stop_after=s.memory_stop_after, iterate=s.memory_iterate)
    except Exception as exc:  # noqa: BLE001 - reported, the rest still runs
        results.notes.append(f"Section 4 did not run: {type(exc).__name__}: {exc}")
        say(f"  failed: {exc!r}")
        return
    for m in results.memory:
        say(f"  {m.what}: +{m.added_mb:.1f} MB peak in {m.seconds:.1f} s")


async def run(sections: set[int], out: Path, settings: Settings = SETTINGS) -> Results:
    """Run ``sections`` (numbers 1 to 5) at ``settings``; section 1's chart goes into ``out``."""
    started = time.perf_counter()
    results = Results(settings=settings, environment=environment())
    if settings != SETTINGS:
        results.notes.append("Smoke sizes (`--quick`): not figures to quote.")
    with tempfile.TemporaryDirectory(prefix="billabex-bench-") as tmp:
        field: list[Contender] = []
        if sections & {1, 2}:
            say("generating contender E's client")
            field = contenders(_generate(Path(tmp), results))
            results.contenders = [(c.key, c.label) for c in field]
        if 1 in sections:
            await _limited(field, results)
            draw_ratelimited(results.limited, settings.limit, out / "ratelimited.png")
        if 2 in sections:
            await _throughput(field, results)
    if 3 in sections:
        await _resync(results)
    if 4 in sections:
        await _memory(results)
    if 5 in sections:
        say(f"[5] model cost, {settings.model_items:,} contacts")
        results.model = run_model_cost(settings.model_items, seed=SEED)
    results.seconds = time.perf_counter() - started
    return results
