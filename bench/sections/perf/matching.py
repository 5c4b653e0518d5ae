"""Performance section: fuzzy-name lookups by account size, and the simulator's new-email adds.

Three matchers answer the same lookups (a new email, so the name decides):
the brute-force scan (every name scored), the ``Matcher`` of the package
before (``bench.baseline``: a scan of the names within two characters of the
length) and today's ``Matcher`` (a deletion-neighbourhood index). Lookup
timings are interleaved in one process, best of N; the simulator runs in a
fresh process per sample, before and after in turn. ``python -m
bench.sections.perf.matching`` prints the section and writes ``bench/matching.png``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import string
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bench import BENCH, OUT, _private, baseline
from bench.report.charts import draw_matching

# Resolved in whichever package this interpreter imports: the baseline's in a
# "before" child, today's here.
Matcher = _private.find(_private.MATCHER)
name_threshold = _private.find(_private.NAME_THRESHOLD)
normalize_name = _private.find(_private.NORMALIZE_NAME)

__all__ = ["BruteForce", "lookups", "section", "simulator_rates"]

CHART = BENCH / "matching.png"
QUICK_CHART = OUT / "matching.png"
MODULE = "bench.sections.perf.matching"
"""This module, run as a child process for the simulator's rates."""


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=6)).capitalize()


def _names(n: int, rng: random.Random) -> list[str]:
    """Two random 6-letter words: 13 characters, as the other benchmarks' people."""
    return [f"{_word(rng)} {_word(rng)}" for _ in range(n)]


class BruteForce:
    """Every name scored for every lookup: the rules with no index at all."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = [normalize_name(n) for n in names]

    def find_by_name(self, full_name: str) -> int | None:
        wanted = normalize_name(full_name)
        best: tuple[int, int] | None = None
        for name, distance, key in process.extract(
            wanted, self.names, scorer=Levenshtein.distance, score_cutoff=2, limit=None
        ):
            if distance <= name_threshold(wanted, name) and (
                best is None or (distance, key) < best
            ):
                best = (int(distance), int(key))
        return None if best is None else best[1]


def _matcher_before(root: Path | None) -> ModuleType | None:
    """The baseline's ``_matching`` (stdlib and rapidfuzz only), loaded as ``_matching_before``."""
    if root is None:
        return None
    path = root.joinpath(*_private.MATCHING_MODULE.split(".")).with_suffix(".py")
    spec = importlib.util.spec_from_file_location("_matching_before", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _filled(matcher: Any, names: Sequence[str]) -> Any:
    for key, name in enumerate(names):
        matcher.add(key, name, None)
    return matcher


def _per_lookup(find: Callable[[str], object], queries: Sequence[str]) -> float:
    started = time.perf_counter()
    for query in queries:
        find(query)
    return (time.perf_counter() - started) / len(queries)


def lookups(sizes: Sequence[int], repeats: int, lookups: int = 200) -> dict[str, dict[int, float]]:
    """Seconds per new-name lookup: {matcher: {size: best of repeats}}, interleaved."""
    before = _matcher_before(baseline.checkout())
    results: dict[str, dict[int, float]] = {"brute force": {}, "before": {}, "after": {}}
    if before is None:
        del results["before"]
    for size in sizes:
        rng = random.Random(size)
        names = _names(size, rng)
        queries = _names(lookups, rng)
        finders: dict[str, Callable[[str], object]] = {
            "brute force": BruteForce(names).find_by_name,
            "after": _filled(Matcher(), names).find_by_name,
        }
        if before is not None:
            finders["before"] = _filled(before.Matcher(), names).find_by_name
        expected = [finders["brute force"](q) for q in queries[:50]]
        for find in finders.values():  # they agree before they are timed
            assert [find(q) for q in queries[:50]] == expected
        best = dict.fromkeys(finders, float("inf"))
        for _ in range(repeats):
            for name, find in finders.items():
                best[name] = min(best[name], _per_lookup(find, queries))
        for name in finders:
            results[name][size] = best[name]
    return results


def index_memory(size: int) -> tuple[float, float]:
    """Bytes per contact: the index's table and slots, and the whole Matcher (tracemalloc)."""
    names = _names(size, random.Random(size))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    matcher = _filled(Matcher(), names)
    whole = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return matcher.index_bytes / size, whole / size


# --- simulator ----------------------------------------------------------------


async def _simulate(stored: int, upserts: int) -> float:
    """In a fresh process (either package): new-email upserts per server CPU-second.

    The client is another process, so only the server's work is counted.
    """
    from billabex_async.testing import FakeBillabex

    rng = random.Random(stored)
    async with FakeBillabex(rate_limit=None) as fake:
        for i, name in enumerate(_names(stored, rng)):
            fake.add_contact(fake.account_id, full_name=name, email=f"p{i}@example.com")
        url = f"{fake.url}/api/public/v1/accounts/{fake.account_id}/contacts/upsert"
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", MODULE, "--upserts", url, fake.token, str(upserts),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None
        await child.stdout.readline()  # the client is ready: start the clock
        started = time.process_time()
        await child.wait()
        spent = time.process_time() - started
        assert child.returncode == 0
        assert len(fake.contacts(fake.account_id)) == stored + upserts
        return upserts / spent


async def _upserts_child(url: str, token: str, upserts: int) -> None:
    """In the client process: ``upserts`` new people, 8 at a time."""
    import aiohttp

    rng = random.Random(-upserts)
    bodies = [
        {"fullName": name, "language": "en", "email": f"new{i}@example.com"}
        for i, name in enumerate(_names(upserts, rng))
    ]
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:

        async def send(chunk: Sequence[dict[str, str]]) -> None:
            for body in chunk:
                async with session.put(url, json=body, headers=headers) as resp:
                    assert resp.status == 201, resp.status
                    await resp.read()

        print("ready", flush=True)
        await asyncio.gather(*(send(bodies[i::8]) for i in range(8)))


def simulator_rates(stored: int, upserts: int, repeats: int) -> dict[str, float]:
    """Best upserts per server CPU-second: {"before"?, "after"}, a fresh process each, in turn."""
    sides: dict[str, Path | None] = {}
    root = baseline.checkout()
    if root is not None:
        sides["before"] = root
    sides["after"] = None
    best = dict.fromkeys(sides, 0.0)
    for _ in range(repeats):
        for side, where in sides.items():
            out = subprocess.run(
                [sys.executable, "-m", MODULE, "--simulate", str(stored), str(upserts)],
                env=baseline.env(where),
                cwd=BENCH,  # not the checkout's root, whose package would shadow the baseline's
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            best[side] = max(best[side], float(out.split()[-1]))
    return best


# --- report -------------------------------------------------------------------


def section(quick: bool = False) -> str:
    """The Markdown section; writes the chart (``bench/out/matching.png`` when ``quick``)."""
    sizes: tuple[int, ...]
    if quick:
        sizes, repeats, stored, upserts, sim_repeats = (1_000, 5_000), 1, 5_000, 100, 1
    else:
        sizes, repeats = (1_000, 3_000, 10_000, 30_000, 100_000), 3
        # 2,000 upserts (about a CPU-second): 300 gave figures 2x apart from run to run.
        stored, upserts, sim_repeats = 100_000, 2_000, 3
    results = lookups(sizes, repeats)
    has_before = "before" in results

    def cell(name: str, size: int) -> str:
        return f"{results[name][size] * 1e6:,.1f}" if name in results else "—"

    lines = [
        "### Fuzzy-name matching and the simulator",
        "",
        "Lookup of a new name (the email is unknown), µs per lookup, best of"
        f" {repeats} interleaved runs of 200 lookups; names are two random 6-letter words."
        " The three matchers agree on every lookup checked before timing.",
        "",
        "| contacts | brute force | before | after |",
        "|---:|---:|---:|---:|",
    ]
    for size in sizes:
        cells = [cell(name, size) for name in ("brute force", "before", "after")]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    table, whole = index_memory(max(sizes))
    rates = simulator_rates(stored, upserts, sim_repeats)
    before_rate = f"{rates['before']:,.0f}" if "before" in rates else "—"
    chart = QUICK_CHART if quick else CHART
    lines += [
        "",
        f"Index memory at {max(sizes):,} contacts: {table:,.0f} bytes per contact in the key"
        f" table and slots; {whole:,.0f} bytes per contact for the whole `Matcher`"
        " (tracemalloc, names included).",
        "",
        f"FakeBillabex at {stored:,} stored contacts, {upserts:,} new-email upserts"
        " (the client in another process, 8 in flight), per server CPU-second, best of"
        f" {sim_repeats}, a fresh server process each:",
        "",
        "| FakeBillabex | before | after |",
        "|---|---:|---:|",
        f"| upserts per server CPU-second | {before_rate} | {rates['after']:,.0f} |",
        "",
    ]
    if draw_matching(results, chart):
        lines.append(f"![lookup time vs account size]({chart.name})")
    else:
        lines.append("(No chart: matplotlib, from the `bench` extra, is not installed.)")
    if not has_before:
        lines.insert(2, "No git checkout: the before column is empty.\n")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--simulate"]:
        print(asyncio.run(_simulate(int(sys.argv[2]), int(sys.argv[3]))))
    elif sys.argv[1:2] == ["--upserts"]:
        asyncio.run(_upserts_child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        print(section())
