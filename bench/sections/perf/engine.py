"""Performance section: the bulk engine's own CPU cost per item, and bulk upsert end to end.

``python -m bench.sections.perf.engine`` prints the Markdown section. "Before"
is the package at ``baseline.BASELINE``; each side runs in its own interpreter
(``baseline.python``), the sides interleaved, best of N.

Engine overhead: the CPU time ``bulk_upsert_account`` takes over a resource
double whose upsert answers after one loop turn, minus the CPU time a plain
``for`` loop awaiting the same double takes, per item (concurrency 8).
"Conflicts off" runs the engine on ops that carry no keys. End to end:
``bulk_upsert`` of new contacts against the simulator in another process
(no rate limit), items per second of wall time. Utilisation: ``bulk_upsert``
at the default concurrency under a rate limit, against a simulator with
latency in another process (so the client's CPU does not delay the server),
the admitted arrivals past the first window's, per second, over the limit.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import sys
import time
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

from bench import _private, baseline
from bench.simulator import SimProcess

ACCOUNT = str(uuid.uuid4())
LETTERS = "abcdefghijklmnopqrstuvwxyz"
CONCURRENCY = 8
CASES = {
    "distinct": "conflicts on, distinct names",
    "dense": "conflicts on, dense near-duplicate names",
    "off": "conflicts off",
}


def distinct(n: int, seed: int = 1) -> list[Any]:
    from billabex_async import ContactUpsert

    rng = random.Random(seed)

    def word(size: int) -> str:
        return "".join(rng.choice(LETTERS) for _ in range(size))

    return [
        ContactUpsert(full_name=f"{word(6)} {word(8)}", language="en", email=f"p{i}@example.com")
        for i in range(n)
    ]


def dense(n: int, seed: int = 2) -> list[Any]:
    """One base name per 10 items, each item up to two edits from its base: most conflict."""
    from billabex_async import ContactUpsert

    rng = random.Random(seed)
    bases = [item.full_name for item in distinct(max(1, n // 10), seed)]
    out = []
    for _ in range(n):
        chars = list(rng.choice(bases))
        for _ in range(rng.randrange(3)):
            chars[rng.randrange(len(chars))] = rng.choice(LETTERS)
        out.append(ContactUpsert(full_name="".join(chars), language="en"))
    return out


def _instant() -> Any:
    """A resource double: every upsert answers after one loop turn, with one prebuilt contact."""
    from billabex_async.models import Contact
    from billabex_async.resources import ContactsResource

    class Instant(ContactsResource):
        def __init__(self) -> None:
            super().__init__(cast(Any, None))
            self.contact = Contact(id=uuid.uuid4(), full_name="x", language="en")

        async def upsert(self, account_id: Any, data: Any = None, **fields: Any) -> Any:
            await asyncio.sleep(0)
            return self.contact

    return Instant()


async def _loop(items: list[Any]) -> float:
    contacts = _instant()
    start = time.process_time()
    for i, item in enumerate(items):
        await contacts.upsert(ACCOUNT, item, idempotency_key=f"k-{i}")
    return time.process_time() - start


async def _bulk(items: list[Any], *, conflicts: bool) -> float:
    import billabex_async.bulk as bulk

    contacts = _instant()
    start = time.process_time()
    if conflicts:
        report = await bulk.bulk_upsert_account(contacts, ACCOUNT, items, concurrency=CONCURRENCY)
    else:
        engine_class = _private.find(_private.ENGINE)
        op_class = _private.find(_private.CONFLICT_OP)
        report = bulk.BulkReport()

        def make_op(index: int, item: Any) -> Any:
            # The baseline's report derives no keys: the double ignores them anyway.
            key = report.key_for(index) if hasattr(report, "key_for") else f"k-{index}"

            def run() -> Any:
                return contacts.upsert(ACCOUNT, item, idempotency_key=key)

            try:
                return op_class(index, ACCOUNT, item, run, idempotency_key=key)
            except TypeError:  # an Op from before idempotency keys
                return op_class(index, ACCOUNT, item, run)

        engine = engine_class(
            items,
            make_op,
            concurrency=CONCURRENCY,
            report=report,
            on_progress=None,
            cancel_grace=5.0,
            per_account=False,
        )
        async for _ in engine.run():
            pass
    elapsed = time.process_time() - start
    assert report.succeeded == len(items)
    return elapsed


def overhead(n: int, repeats: int) -> dict[str, float]:
    """In this interpreter's package: best-of-``repeats`` CPU µs per item, by case."""
    streams = {"distinct": distinct(n), "dense": dense(n), "off": distinct(n)}
    best: dict[str, float] = {}

    async def once() -> None:
        for case, items in streams.items():
            gc.collect()
            plain = await _loop(items)
            took = await _bulk(items, conflicts=case != "off")
            per_item = (took - plain) / len(items) * 1e6
            best[case] = min(best.get(case, per_item), per_item)

    for _ in range(repeats):
        asyncio.run(once())
    return best


def end_to_end(url: str, token: str, account: str, n: int) -> tuple[float, float]:
    """In this interpreter's package: ``bulk_upsert`` of ``n`` new contacts.

    Returns items per second (wall) and this process's CPU µs per item.
    """
    from billabex_async import BillabexClient

    items = distinct(n, seed=11)

    async def go() -> tuple[float, float]:
        async with BillabexClient(token=token, base_url=url, rate_limit=None) as client:
            start, cpu = time.perf_counter(), time.process_time()
            report = await client.contacts.bulk_upsert(account, items, concurrency=CONCURRENCY)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert report.ok, report
        return n / took, cpu / n * 1e6

    return asyncio.run(go())


LIMITED_SERVER = "bench.sections.perf._arrivals_server"
"""The simulator for a utilisation run (today's package on both sides): it reports arrivals."""


def limited_upsert(url: str, token: str, account: str, limit: int, window: float, n: int) -> None:
    """In this interpreter's package: ``bulk_upsert`` of ``n`` new contacts, default concurrency."""
    from billabex_async import BillabexClient, RateLimit

    items = distinct(n, seed=13)

    async def go() -> None:
        rule = RateLimit(limit, window)
        async with BillabexClient(
            token=token, base_url=url, rate_limit=rule, max_retries=8
        ) as client:
            report = await client.contacts.bulk_upsert(account, items)
        assert report.succeeded == n, report

    asyncio.run(go())


async def utilisation(
    root: Path | None, limit: int, window: float, latency: float, n: int
) -> tuple[float, list[float]]:
    """One run: admitted requests past the first window's, per second, over the limit; ``lags``."""
    server = SimProcess(rate_limit=f"{limit}/{window}", latency=latency, module=LIMITED_SERVER)
    async with server:
        t = server.target
        await asyncio.to_thread(
            _in, root, "limited_upsert_args", t.url, t.token, t.account_id, limit, window, n
        )
    ok: list[float] = json.loads(server.output.strip().splitlines()[-1])
    used = (len(ok) - limit) / (ok[-1] - ok[0]) / (limit / window)
    return used, lags(ok, limit, window, latency)


def lags(ok: list[float], limit: int, window: float, latency: float) -> list[float]:
    """Seconds each stage of a probed run arrived behind an ideal client, from the arrivals.

    The first is the burst's last arrival past the probe's arrival plus ``latency``
    (the probe's answer); each next one, a window's last arrival past the previous
    window's plus ``window + latency`` (when its slots came back to the client).
    They add up to the span past the ideal one, so they say where utilisation goes.
    """
    if len(ok) < 2:
        return []
    tails = [ok[min(end, len(ok)) - 1] for end in range(limit, len(ok) + limit, limit)]
    out = [tails[0] - ok[0] - latency]
    out += [later - earlier - window - latency for earlier, later in pairwise(tails)]
    return out


async def end_to_end_round(root: Path | None, n: int) -> tuple[float, float]:
    """``end_to_end`` on the package at ``root``, against a fresh unlimited simulator."""
    async with SimProcess(rate_limit="none") as server:
        t = server.target
        rate, spent = await asyncio.to_thread(
            _in, root, "end_to_end_args", t.url, t.token, t.account_id, n
        )
    return float(rate), float(spent)


def ideal(limit: int, window: float, latency: float, n: int, *, probe: bool = False) -> float:
    """An ideal client's utilisation: each window's slots at once, held latency + window.

    ``probe``: that client first sends one request alone and waits for its
    answer (what the engine does, so a refused token costs one request).
    """
    cycles = -(-n // limit) - 1  # the windows after the first
    span = cycles * (window + latency) + (latency if probe else 0.0)
    return (n - limit) / span / (limit / window)


def _in(root: Path | None, call: str, *args: object) -> Any:
    code = (
        "import json, sys; from bench.sections.perf import engine as p;"
        f" print(json.dumps(p.{call}(*sys.argv[1:])))"
    )
    return json.loads(baseline.python(code, root, *map(str, args)))


def section(quick: bool = False) -> str:
    """The Markdown section: engine overhead per item and end-to-end rate, before and after."""
    n, rounds, inner, e2e_n, e2e_rounds = (
        (2_000, 2, 1, 500, 1) if quick else (10_000, 5, 2, 10_000, 3)
    )
    root = baseline.checkout()
    sides: dict[str, Path | None] = (
        {"after": None} if root is None else {"before": root, "after": None}
    )
    best: dict[tuple[str, str], float] = {}
    for _ in range(rounds):
        for side, where in sides.items():  # interleaved: both see the same noise
            for case, value in _in(where, "overhead_args", n, inner).items():
                best[case, side] = min(best.get((case, side), value), value)
    limited = (40, 1.0, 0.1, 120) if quick else (100, 2.0, 0.2, 400)
    used: dict[str, float] = {}
    lost: dict[str, list[float]] = {}  # the best run's lags
    for _ in range(1 if quick else 3):
        for side, where in sides.items():
            value, stages = asyncio.run(utilisation(where, *limited))
            if value > used.get(side, 0.0):
                used[side], lost[side] = value, stages
    rates: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for _ in range(e2e_rounds):
        for side, where in sides.items():
            rate, spent = asyncio.run(end_to_end_round(where, e2e_n))
            rates[side] = max(rates.get(side, 0.0), rate)
            cpu[side] = min(cpu.get(side, spent), spent)

    def cell(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    lines = [
        "### Bulk engine: overhead per item",
        "",
        f"CPU time of `bulk_upsert_account` over a double answering after one loop turn, minus "
        f"a plain loop awaiting the same double, per item ({n:,} items, concurrency "
        f"{CONCURRENCY}; each side in its own interpreter, interleaved, best of "
        f"{rounds * inner}; before = {baseline.BASELINE[:7]}); then `bulk_upsert` of {e2e_n:,} "
        f"new contacts against the simulator in another process, no rate limit (best of "
        f'{e2e_rounds}; the whole client, so "before" also lacks later client features); then, '
        f"under a rate limit, `bulk_upsert` at the default concurrency against a simulator with "
        f"latency in another process: utilisation is the admitted requests past the first "
        f"window's, per second, over the limit.",
        "",
        "| case | before | after |",
        "|---|---|---|",
    ]
    for case, label in CASES.items():
        lines.append(
            f"| {label}, µs per item | {cell(best.get((case, 'before')), '.1f')} "
            f"| {best[case, 'after']:.1f} |"
        )
    lines.append(
        f"| `bulk_upsert` end to end, items/s | {cell(rates.get('before'), ',.0f')} "
        f"| {rates['after']:,.0f} |"
    )
    lines.append(
        f"| `bulk_upsert` end to end, client CPU µs per item | "
        f"{cell(cpu.get('before'), '.0f')} | {cpu['after']:.0f} |"
    )
    limit, window, latency, count = limited
    best_ideal, probed = ideal(*limited), ideal(*limited, probe=True)

    def against(side: str) -> str:
        if side not in used:
            return "n/a"
        behind = "/".join(f"{lag * 1000:+.0f}" for lag in lost[side])
        return f"{used[side]:.3f} ({used[side] / best_ideal:.3f} of ideal; behind, ms: {behind})"

    lines.append(
        f"| utilisation at {latency * 1000:g} ms, {limit} / {window:g} s, default concurrency, "
        f"vs ideal {best_ideal:.3f} ({probed:.3f} with the first request sent alone), "
        f"{count} upserts, best of {1 if quick else 3}; behind: the burst after the probe's "
        f"answer, then each window's last arrival | {against('before')} "
        f"| {against('after')} |"
    )
    return "\n".join(lines) + "\n"


def overhead_args(n: str, repeats: str) -> dict[str, float]:
    return overhead(int(n), int(repeats))


def end_to_end_args(url: str, token: str, account: str, n: str) -> tuple[float, float]:
    return end_to_end(url, token, account, int(n))


def limited_upsert_args(
    url: str, token: str, account: str, limit: str, window: str, n: str
) -> None:
    limited_upsert(url, token, account, int(limit), float(window), int(n))


if __name__ == "__main__":
    print(section("--quick" in sys.argv[1:]))
