"""Benchmark: fuzzy-name matching, sync planning and the simulator's upserts, by account size.

Three matchers answer the same lookups (a new email, so the name decides):
the brute-force scan (every name scored), the length-bucket scan the SDK
used before (kept here as the reference), and ``Matcher`` with its
deletion-neighbourhood index. Timings are interleaved, best of ``repeats``.
Run alone: ``python bench/_perf_matching.py`` prints the Markdown and
writes ``bench/matching.png``.
"""

from __future__ import annotations

import asyncio
import random
import resource
import string
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from billabex_async._matching import Matcher, name_threshold, normalize_name

__all__ = ["BruteForce", "LengthBuckets", "run"]

HERE = Path(__file__).resolve().parent
CHART = HERE / "matching.png"
LOOKUPS = 300
SIM_STORED = 100_000
SIM_UPSERTS = 2_000


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


class LengthBuckets:
    """The previous ``Matcher.find_by_name``: a batch scan of the names within 2 of the length."""

    def __init__(self, names: Sequence[str]) -> None:
        self.by_length: dict[int, dict[int, str]] = {}
        for key, raw in enumerate(names):
            name = normalize_name(raw)
            self.by_length.setdefault(len(name), {})[key] = name

    def find_by_name(self, full_name: str) -> int | None:
        wanted = normalize_name(full_name)
        size = len(wanted)
        best: tuple[int, int] | None = None
        for length in range(size - 2, size + 3):
            bucket = self.by_length.get(length)
            if not bucket:
                continue
            hits = process.extract(
                wanted, bucket, scorer=Levenshtein.distance, score_cutoff=2, limit=None
            )
            for name, distance, key in hits:
                if distance <= name_threshold(wanted, name):
                    rank = (int(distance), int(key))  # keys are insertion order here
                    if best is None or rank < best:
                        best = rank
        return None if best is None else best[1]


def _indexed(names: Sequence[str]) -> Matcher[int]:
    matcher: Matcher[int] = Matcher()
    for key, name in enumerate(names):
        matcher.add(key, name, None)
    return matcher


def _best_per_lookup(find: Callable[[str], object], queries: Sequence[str]) -> float:
    started = time.perf_counter()
    for query in queries:
        find(query)
    return (time.perf_counter() - started) / len(queries)


def lookups(sizes: Sequence[int], repeats: int) -> dict[str, dict[int, float]]:
    """Seconds per new-name lookup: {matcher: {size: best of repeats}}, interleaved."""
    results: dict[str, dict[int, float]] = {"brute force": {}, "length buckets": {}, "index": {}}
    for size in sizes:
        rng = random.Random(size)
        names = _names(size, rng)
        queries = _names(LOOKUPS, rng)
        finders: dict[str, Callable[[str], object]] = {
            "brute force": BruteForce(names).find_by_name,
            "length buckets": LengthBuckets(names).find_by_name,
            "index": _indexed(names).find_by_name,
        }
        for find in finders.values():  # the three agree before they are timed
            assert [find(q) for q in queries[:50]] == [finders["index"](q) for q in queries[:50]]
        best = dict.fromkeys(finders, float("inf"))
        for _ in range(repeats):
            for name, find in finders.items():
                best[name] = min(best[name], _best_per_lookup(find, queries))
        for name in finders:
            results[name][size] = best[name]
    return results


def index_memory(size: int) -> tuple[float, float]:
    """Bytes per contact: the index's table and slots, and the whole Matcher (tracemalloc)."""
    names = _names(size, random.Random(size))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    matcher = _indexed(names)
    whole = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return matcher.index_bytes / size, whole / size


# --- planning -----------------------------------------------------------------


def _plan_child(size: int) -> None:
    """In a fresh process: plan ``size`` desired (no emails) against ``size`` listed; print."""
    from billabex_async.models import Contact, ContactUpsert
    from billabex_async.sync import plan_sync

    rng = random.Random(size)
    names = _names(size, rng)

    class Listing:
        async def iterate(self, account: str, page_size: int = 100) -> AsyncIterator[Contact]:
            for name in names:  # built one by one, as pages arrive
                yield Contact(
                    id=uuid.UUID(int=rng.getrandbits(128), version=4),
                    full_name=name,
                    language="en",
                    email=None,
                    role=None,
                    notes=None,
                    is_primary=None,
                    read_only_reason=None,
                )

    def desired() -> list[ContactUpsert]:
        # A quarter each: unchanged, another role, a one-letter rename, someone new.
        items = []
        for i, name in enumerate(names):
            kind = i % 4
            if kind == 2:
                name = name[:-1] + "q"
            elif kind == 3:
                name = f"{_word(rng)} {_word(rng)}"
            items.append(ContactUpsert(full_name=name, language="en", role="r" if kind else None))
        return items

    items = desired()
    started = time.process_time()
    plan = asyncio.run(
        plan_sync(Listing(), uuid.uuid4(), items, delete_missing=True, max_delete_share=1.0)  # type: ignore[arg-type]
    )
    cpu = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(cpu, peak, len(plan.changes))


def planning(size: int, repeats: int) -> tuple[float, int]:
    """CPU seconds (best of ``repeats``) and peak RSS bytes of planning, each in a fresh process."""
    best, peak = float("inf"), 0
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, __file__, "--plan", str(size)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        best, peak = min(best, float(out[0])), max(peak, int(out[1]))
    return best, peak


# --- simulator ----------------------------------------------------------------


async def simulator_rate(stored: int, upserts: int) -> float:
    """New-email upserts per server CPU-second: the client runs in another process."""
    from billabex_async.testing import FakeBillabex

    rng = random.Random(stored)
    async with FakeBillabex(rate_limit=None) as fake:
        for i, name in enumerate(_names(stored, rng)):
            fake.add_contact(fake.account_id, full_name=name, email=f"p{i}@example.com")
        url = f"{fake.url}/api/public/v1/accounts/{fake.account_id}/contacts/upsert"
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--upserts", url, fake.token, str(upserts),
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


# --- report -------------------------------------------------------------------


def _chart(results: dict[str, dict[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, by_size in results.items():
        sizes = sorted(by_size)
        axes.plot(sizes, [by_size[s] * 1e6 for s in sizes], marker="o", label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("contacts in the account")
    axes.set_ylabel("µs per lookup (new email, name decides)")
    axes.set_title("Fuzzy-name lookup time vs account size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run(sizes: Sequence[int] = (10_000, 50_000, 100_000), repeats: int = 5) -> list[str]:
    """Markdown lines for the matching section of the results; writes ``bench/matching.png``."""
    results = lookups(sizes, repeats)
    lines = [
        "## Fuzzy matching, planning and the simulator",
        "",
        f"Lookup of a new name (the email is unknown), µs, best of {repeats} interleaved runs"
        f" of {LOOKUPS} lookups; names are two random 6-letter words.",
        "",
        "| contacts | brute force | length buckets (before) | index (now) |",
        "|---:|---:|---:|---:|",
    ]
    for size in sizes:
        cells = [f"{results[m][size] * 1e6:,.1f}" for m in results]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    table, whole = index_memory(max(sizes))
    lines += [
        "",
        f"Index memory at {max(sizes):,} contacts: {table:,.0f} bytes per contact in the key"
        f" table and slots; {whole:,.0f} bytes per contact for the whole `Matcher`"
        " (tracemalloc, names included).",
        "",
        "| planning, no emails (desired = listed) | CPU s (best of 2) | peak RSS |",
        "|---:|---:|---:|",
    ]
    for size in (10_000, 100_000):
        cpu, peak = planning(size, 2)
        lines.append(f"| {size:,} × {size:,} | {cpu:.2f} | {peak / 2**20:,.0f} MB |")
    rate = asyncio.run(simulator_rate(SIM_STORED, SIM_UPSERTS))
    lines += [
        "",
        f"FakeBillabex at {SIM_STORED:,} stored contacts: {rate:,.0f} new-email upserts per"
        " server CPU-second (the client in another process, 8 requests in flight).",
        "",
        f"![lookup time vs account size]({CHART.name})",
    ]
    _chart(results, CHART)
    return lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plan"]:
        _plan_child(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--upserts"]:
        asyncio.run(_upserts_child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        print("\n".join(run()))
