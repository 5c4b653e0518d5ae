"""Benchmarks of billabex_async against what a user would write instead, and against itself before.

``python bench/run.py`` (or ``make bench``) starts the simulator itself, runs
every section, and writes bench/results.md, bench/ratelimited.png and
bench/matching.png. Needs the ``bench`` extra: ``pip install -e '.[dev,bench]'``.
Takes a few minutes. ``--only 1,3`` runs some sections and writes to
bench/out/ instead. ``--only perf`` runs the "Performance at scale" sections
(``bench/_perf_*.py``, before/after) and replaces that part of
bench/results.md only; ``--only perf --quick`` is the smoke run at small
sizes, written to bench/out/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _bench_chart import draw_ratelimited
from _bench_contenders import CONCURRENCY, Contender, contenders, ours_at
from _bench_env import environment
from _bench_memory import run_memory
from _bench_model_cost import run_model_cost
from _bench_openapi import GeneratedClient, generate
from _bench_perf import perf_sections, splice
from _bench_ratelimited import run_limited
from _bench_report import render
from _bench_results import Results, Settings
from _bench_resync import run_resync
from _bench_throughput import Round, run_round, summarise

from billabex_async import RateLimit

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent / "openapi" / "contacts.yaml"
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


def say(message: str) -> None:
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


async def _run(sections: set[int], out: Path) -> Results:
    started = time.perf_counter()
    results = Results(settings=SETTINGS, environment=environment())
    with tempfile.TemporaryDirectory(prefix="billabex-bench-") as tmp:
        field: list[Contender] = []
        if sections & {1, 2}:
            say("generating contender E's client")
            field = contenders(_generate(Path(tmp), results))
            results.contenders = [(c.key, c.label) for c in field]
        if 1 in sections:
            await _limited(field, results)
            draw_ratelimited(results.limited, SETTINGS.limit, out / "ratelimited.png")
        if 2 in sections:
            await _throughput(field, results)
    if 3 in sections:
        await _resync(results)
    if 4 in sections:
        await _memory(results)
    if 5 in sections:
        say(f"[5] model cost, {SETTINGS.model_items:,} contacts")
        results.model = run_model_cost(SETTINGS.model_items, seed=SEED)
    results.seconds = time.perf_counter() - started
    return results


def _perf_only(quick: bool) -> int:
    """Replace the "Performance at scale" part of results.md, keeping the rest."""
    started = time.perf_counter()
    target = HERE / "out" / "results.md" if quick else HERE / "results.md"
    target.parent.mkdir(exist_ok=True)
    section = perf_sections(quick, say)
    old = target.read_text() if target.exists() else ""
    target.write_text(splice(old, section))
    say(f"wrote {target} in {time.perf_counter() - started:.0f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only",
        help="comma-separated sections (1-5, perf); output goes to bench/out/,"
        " except for perf alone, which updates its part of bench/results.md",
    )
    parser.add_argument(
        "--quick", action="store_true", help="perf sections at smoke sizes (bench/out/)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sections: set[int | str] = {1, 2, 3, 4, 5, "perf"}
    out = HERE
    if args.only:
        parts = [part.strip() for part in args.only.split(",")]
        sections = {part if part == "perf" else int(part) for part in parts}
        out = HERE / "out"
        out.mkdir(exist_ok=True)
    if args.quick and sections != {"perf"}:
        parser.error("--quick goes with --only perf")
    if sections == {"perf"}:
        return _perf_only(args.quick)
    numbered = {part for part in sections if isinstance(part, int)}
    results = asyncio.run(_run(numbered, out))
    document = render(results)
    if "perf" in sections:
        document = splice(document, perf_sections(False, say))
    (out / "results.md").write_text(document)
    say(f"wrote {out / 'results.md'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
