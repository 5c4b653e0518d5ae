"""The bulk engine's own cost per item, before and after, and utilisation at 200 ms latency.

``python bench/_perf_engine.py`` prints a Markdown section. "Before" is the
bulk package as of ``BEFORE`` (the last commit with the window-scanning
admission), read with ``git show`` into a temporary package and run in the
same process, interleaved with today's, best of ``repeats``.

Engine overhead: the time ``bulk_upsert_account`` takes over a resource
double whose upsert answers after one loop turn, minus the time a plain
``for`` loop awaiting the same double takes, per item. "Conflicts off" runs
the engine on ops that carry no keys.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any, cast
from uuid import UUID

from billabex_async import BillabexClient, ContactUpsert, RateLimit
from billabex_async._http import Transport
from billabex_async.models import Contact
from billabex_async.resources import ContactsResource
from billabex_async.testing import FakeBillabex

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "c435fc7039a1988e7b02c083793f90320bc09ffa"
ACCOUNT = str(uuid.uuid4())
LETTERS = "abcdefghijklmnopqrstuvwxyz"


class Instant(ContactsResource):
    """Answers every upsert after one loop turn, with one prebuilt contact."""

    def __init__(self) -> None:
        super().__init__(cast(Transport, None))
        self.contact = Contact(id=uuid.uuid4(), full_name="x", language="en")

    async def upsert(
        self, account_id: str | UUID, data: ContactUpsert | None = None, **fields: Any
    ) -> Contact:
        await asyncio.sleep(0)
        return self.contact


def distinct(n: int, seed: int = 1) -> list[ContactUpsert]:
    rng = random.Random(seed)

    def word(size: int) -> str:
        return "".join(rng.choice(LETTERS) for _ in range(size))

    return [
        ContactUpsert(full_name=f"{word(6)} {word(8)}", language="en", email=f"p{i}@example.com")
        for i in range(n)
    ]


def dense(n: int, seed: int = 2) -> list[ContactUpsert]:
    """One base name per 10 items, each item up to two edits from its base: most conflict."""
    rng = random.Random(seed)
    bases = [item.full_name for item in distinct(max(1, n // 10), seed)]
    out = []
    for _ in range(n):
        chars = list(rng.choice(bases))
        for _ in range(rng.randrange(3)):
            chars[rng.randrange(len(chars))] = rng.choice(LETTERS)
        out.append(ContactUpsert(full_name="".join(chars), language="en"))
    return out


def load_before() -> ModuleType | None:
    """The bulk package at ``BEFORE``, as the module ``_bulk_before``; None without git."""
    target = Path(tempfile.mkdtemp(prefix="bulk-before-")) / "_bulk_before"
    target.mkdir()
    try:
        for name in ("__init__", "_conflicts", "_engine", "_report"):
            text = subprocess.run(
                ["git", "show", f"{BEFORE}:billabex_async/bulk/{name}.py"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            (target / f"{name}.py").write_text(
                text.replace("billabex_async.bulk.", "_bulk_before.")
            )
    except (OSError, subprocess.CalledProcessError):
        return None
    sys.path.insert(0, str(target.parent))
    return importlib.import_module("_bulk_before")


async def _loop(items: list[ContactUpsert]) -> float:
    contacts = Instant()
    start = time.perf_counter()
    for i, item in enumerate(items):
        await contacts.upsert(ACCOUNT, item, idempotency_key=f"k-{i}")
    return time.perf_counter() - start


async def _bulk(bulk: ModuleType, items: list[ContactUpsert], *, conflicts: bool) -> float:
    contacts = Instant()
    start = time.perf_counter()
    if conflicts:
        report = await bulk.bulk_upsert_account(contacts, ACCOUNT, items, concurrency=8)
    else:
        engine_mod = importlib.import_module(f"{bulk.__name__}._engine")
        conflicts_mod = importlib.import_module(f"{bulk.__name__}._conflicts")
        report = bulk.BulkReport()

        def make_op(index: int, item: ContactUpsert) -> Any:
            key = report.key_for(index)

            def run() -> Coroutine[Any, Any, Contact]:
                return contacts.upsert(ACCOUNT, item, idempotency_key=key)

            return conflicts_mod.Op(index, ACCOUNT, item, run, idempotency_key=key)

        engine = engine_mod.Engine(
            items,
            make_op,
            concurrency=8,
            report=report,
            on_progress=None,
            cancel_grace=5.0,
            per_account=False,
        )
        async for _ in engine.run():
            pass
    elapsed = time.perf_counter() - start
    assert report.succeeded == len(items)
    return elapsed


def overhead(items: int, repeats: int) -> dict[tuple[str, str], float]:
    """Best-of-``repeats`` µs per item, keyed by (case, "before" or "after")."""
    import billabex_async.bulk as after

    before = load_before()
    impls = {"after": after} if before is None else {"before": before, "after": after}
    cases: dict[str, tuple[list[ContactUpsert], bool]] = {
        "conflicts on, distinct names": (distinct(items), True),
        "conflicts on, dense near-duplicate names": (dense(items), True),
        "conflicts off": (distinct(items), False),
    }
    best: dict[tuple[str, str], float] = {}

    async def once() -> None:
        for case, (stream, conflicts) in cases.items():
            for label, impl in impls.items():  # interleaved: both see the same noise
                gc.collect()
                plain = await _loop(stream)
                took = await _bulk(impl, stream, conflicts=conflicts)
                per_item = (took - plain) / len(stream) * 1e6
                best[case, label] = min(best.get((case, label), per_item), per_item)

    for _ in range(repeats):
        asyncio.run(once())
    return best


def utilisation(ok_times: list[float], limit: RateLimit) -> float | None:
    """As in bench/_bench_ratelimited.py: admitted past the free first window, per s, / limit."""
    if len(ok_times) <= limit.requests:
        return None
    span = ok_times[-1] - ok_times[0]
    return (len(ok_times) - limit.requests) / span / (limit.requests / limit.window)


async def _limited(
    concurrency: int | None, n: int, limit: RateLimit, latency: float
) -> float | None:
    async with FakeBillabex(rate_limit=limit, latency=latency, seed=7) as fake:
        items = distinct(n, seed=11)
        async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=limit) as client:
            report = await client.contacts.bulk_upsert(
                fake.account_id, items, concurrency=concurrency
            )
        assert report.ok, report
        assert fake.stats.rate_limited == 0
        log = fake.requests
    t0 = log[0].time
    ok = [r.time - t0 for r in log if r.status is not None and 200 <= r.status < 300]
    return utilisation(ok, limit)


def theory(n: int, limit: RateLimit, latency: float) -> float:
    """An ideal client's score: every window's slots sent at once, each held latency + window."""
    cycles = -(-n // limit.requests) - 1  # the windows after the first
    return (
        (n - limit.requests) / (cycles * (limit.window + latency)) / (limit.requests / limit.window)
    )


def run(items: int = 20_000, repeats: int = 5) -> list[str]:
    """The section's Markdown lines."""
    best = overhead(items, repeats)
    lines = [
        "## Bulk engine: overhead per item and concurrency that follows latency",
        "",
        f"Engine overhead, µs per item over a plain loop ({items:,} items, concurrency 8, "
        f"best of {repeats}, before/after interleaved; before = {BEFORE[:7]}):",
        "",
        "| case | before | after |",
        "|---|---|---|",
    ]
    for case in dict.fromkeys(case for case, _ in best):
        old = best.get((case, "before"))
        lines.append(
            f"| {case} | {'n/a' if old is None else f'{old:.1f}'} | {best[case, 'after']:.1f} |"
        )
    limit, latency, n = RateLimit(100, 2.0), 0.2, 400
    ideal = theory(n, limit, latency)
    lines += [
        "",
        f"Utilisation at {latency * 1000:.0f} ms latency, {limit.requests} / {limit.window:g} s, "
        f"{n} upserts against FakeBillabex (theory {ideal:.2f}; 0 × 429 in every run):",
        "",
        "| concurrency | utilisation | of theory |",
        "|---|---|---|",
    ]
    for concurrency in (None, 8, 64):
        score = asyncio.run(_limited(concurrency, n, limit, latency))
        label = "default (adaptive)" if concurrency is None else str(concurrency)
        shown = "n/a" if score is None else f"{score:.2f} | {score / ideal:.2f}"
        lines.append(f"| {label} | {shown} |")
    return lines


def _main(argv: list[str]) -> None:
    items = int(argv[0]) if argv else 20_000
    print("\n".join(run(items)))


if __name__ == "__main__":
    _main(sys.argv[1:])
