"""Performance section: client CPU per upsert near the wire, raw aiohttp against ours.

``python -m bench.sections.perf.client`` prints the Markdown section (raw
aiohttp, ``upsert()`` and ``bulk_upsert``). A minimal aiohttp
server runs in its own process and answers every ``PUT .../upsert`` with the
same contact; each measurement runs in a fresh client process (the package
"before" from ``bench.baseline``, or today's) that sends the same PUT with the same
JSON body at concurrency 16 and counts its own CPU (``time.process_time``)
only. Before and after alternate round by round; each row keeps its best.

``--callgrind`` (needs valgrind) counts the client process's instructions
instead: per row, a burst of n and one of 3n after the same warm-up, the
difference over 2n. It does not move with the machine's load, so it is the
figure to compare ratios by on a busy machine (``--before`` adds the baseline).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import BENCH, baseline

__all__ = ["section"]

CONCURRENCY = 16
ACCOUNT = "6f1c1b7e-3c1e-4a55-9d55-1f0b2a1c9e01"

# The server: one fixed answer, X-RateLimit-* headers as Billabex sends them.
_SERVER = r"""
import sys
from aiohttp import web

BODY = (
    b'{"id":"0b6c2f4e-8d0a-4c1f-9a3e-5b7d9e1f2a3c","fullName":"John Smith",'
    b'"email":{"address":"john@acme.com","status":"Valid"},"language":"en"}'
)
HEADERS = {
    "Content-Type": "application/json",
    "X-RateLimit-Limit": "1000000",
    "X-RateLimit-Remaining": "999999",
    "X-RateLimit-Reset": "1900000000",
}

async def upsert(request):
    await request.read()
    return web.Response(body=BODY, headers=HEADERS)

async def main():
    app = web.Application()
    app.router.add_put("/api/public/v1/accounts/{account}/contacts/upsert", upsert)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

import asyncio
asyncio.run(main())
"""

# One client process: every variant once after a warm-up, µs of CPU per request.
_CLIENT = r"""
import asyncio, gc, json, random, sys, time
import aiohttp
from billabex_async import BillabexClient, ContactUpsert

URL, ACCOUNT = sys.argv[1], sys.argv[4]
N, CONCURRENCY, REPEATS = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
ONLY = sys.argv[6] if len(sys.argv) > 6 else None  # one row, one burst: for callgrind
TOKEN = "bench-token-0123456789"
rng = random.Random(1)
word = lambda k: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(k))
# Distinct names and emails of one length: no two items conflict in bulk.
FIELDS = [
    dict(full_name=f"{word(6).title()} {word(8).title()}", language="en", email=f"p{i:06d}@x.com")
    for i in range(N)
]
WIRE = [{"fullName": f["full_name"], "language": "en", "email": f["email"]} for f in FIELDS]
ITEMS = [ContactUpsert(**f) for f in FIELDS]


async def workers(send, n):
    async def worker(indices):
        for i in indices:
            await send(i)
    await asyncio.gather(*(worker(range(w, n, CONCURRENCY)) for w in range(CONCURRENCY)))


async def main(n, repeats):
    url = f"{URL}/api/public/v1/accounts/{ACCOUNT}/contacts/upsert"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, BillabexClient(
        token=TOKEN, base_url=URL, rate_limit=None
    ) as client:
        async def raw(i):
            async with session.put(url, data=json.dumps(WIRE[i]), headers=headers) as resp:
                assert resp.status == 200
                await resp.json()

        async def upsert(i):
            await client.contacts.upsert(ACCOUNT, ITEMS[i])

        async def bulk_run(count):
            report = await client.contacts.bulk_upsert(
                ACCOUNT, ITEMS[:count], concurrency=CONCURRENCY
            )
            assert report.succeeded == count, report

        runs = {
            "raw": lambda count: workers(raw, count),
            "upsert": lambda count: workers(upsert, count),
            "bulk": bulk_run,
        }
        if ONLY is not None:
            await runs[ONLY](64)  # warm up as below, then one fixed burst
            await runs[ONLY](n)
            return {}
        for run in runs.values():  # warm the pools and caches
            await run(min(n, 64))
        out = {}
        # Short bursts, interleaved: the best burst of each is the one least
        # disturbed by whatever else the machine runs.
        for _ in range(repeats):
            for name, run in runs.items():
                gc.collect()
                start = time.process_time()
                await run(n)
                took = (time.process_time() - start) / n * 1e6
                out[name] = min(out.get(name, took), took)
        return out


out = asyncio.run(main(N, REPEATS))
print(json.dumps(out))
"""

_ROWS = (
    ("raw", "raw aiohttp loop"),
    ("upsert", "`client.contacts.upsert()`"),
    ("bulk", "`client.contacts.bulk_upsert`"),
)


def _measure(url: str, root: Path | None, n: int, repeats: int) -> dict[str, float]:
    out = baseline.python(_CLIENT, root, url, str(n), str(CONCURRENCY), ACCOUNT, str(repeats))
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def measure(n: int, rounds: int, bursts: int) -> dict[str, dict[str, float]]:
    """Client CPU µs per request, by side ("before", "after") and row.

    The best of ``rounds`` processes per side, each running ``bursts`` bursts of
    ``n`` requests per row, rows and sides interleaved.
    """
    before = baseline.checkout()
    sides: dict[str, Path | None] = {"after": None}
    if before is not None:
        sides = {"before": before, "after": None}
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        best: dict[str, dict[str, float]] = {side: {} for side in sides}
        for _ in range(rounds):
            for side, root in sides.items():  # interleaved: both see the same noise
                for row, value in _measure(url, root, n, bursts).items():
                    best[side][row] = min(best[side].get(row, value), value)
        return best
    finally:
        server.kill()
        server.wait()


def _instructions(url: str, root: Path | None, row: str, n: int) -> int:
    """Instructions the client process executes for a warm-up and a burst of ``n``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        args = [url, str(n), str(CONCURRENCY), ACCOUNT, "1", row]
        subprocess.run(
            [*valgrind, sys.executable, "-c", _CLIENT, *args],
            env=baseline.env(root),
            cwd=BENCH,
            capture_output=True,
            check=True,
        )
        for line in out.read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no summary")


def count(n: int = 200, sides: tuple[str, ...] = ("after",)) -> dict[str, dict[str, float]]:
    """Client instructions per request, by side and row, under callgrind.

    Two bursts per row (``n`` and ``3 n`` requests after the same warm-up);
    their difference over ``2 n`` leaves out start-up, imports and warm-up,
    and does not move with the machine's load.
    """
    roots: dict[str, Path | None] = {"after": None}
    if "before" in sides:
        roots["before"] = baseline.checkout()
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        result: dict[str, dict[str, float]] = {}
        for side in sides:
            rows = result[side] = {}
            for row, _ in _ROWS:
                small = _instructions(url, roots[side], row, n)
                large = _instructions(url, roots[side], row, 3 * n)
                rows[row] = (large - small) / (2 * n)
        return result
    finally:
        server.kill()
        server.wait()


def section(quick: bool = False) -> str:
    """The Markdown section: µs of client CPU per request and the ratio to raw aiohttp."""
    n, rounds, bursts = (200, 2, 3) if quick else (500, 4, 10)
    best = measure(n, rounds, bursts)
    lines = [
        "### Client CPU per upsert near the wire",
        "",
        f"Client-process CPU (`time.process_time`) per request, bursts of {n:,} PUT upserts "
        f"at concurrency {CONCURRENCY} to a minimal aiohttp server in another process, "
        f"best of {rounds * bursts} bursts, before ({baseline.BASELINE[:7]}) and after "
        "interleaved; each ratio is to the raw aiohttp loop (same PUT, body and response) "
        "measured in the same processes, so both see the same machine.",
        "",
        "| what | before µs | before × raw | after µs | after × raw |",
        "|---|---|---|---|---|",
    ]
    for row, label in _ROWS:
        cells = []
        for side in ("before", "after"):
            rows = best.get(side, {})
            value = rows.get(row)
            ratio = None if value is None else value / rows["raw"]
            cells += ["n/a", "n/a"] if ratio is None else [f"{value:.0f}", f"{ratio:.2f}"]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    engine = {
        side: rows["bulk"] - rows["upsert"]
        for side, rows in best.items()
        if "bulk" in rows and "upsert" in rows
    }
    if engine:
        shown = ", ".join(f"{side} {value:.0f} µs" for side, value in engine.items())
        lines += [
            "",
            f"`bulk_upsert` minus `upsert()` is the bulk layer's own cost per item "
            f"(engine, conflict ordering, report, derived keys): {shown}.",
        ]
    return "\n".join(lines)


def main() -> None:
    """``--callgrind`` prints instructions per request instead (needs valgrind)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter bursts")
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions under valgrind instead"
    )
    parser.add_argument("--before", action="store_true", help="with --callgrind: the baseline too")
    args = parser.parse_args()
    if not args.callgrind:
        print(section(quick=args.quick))
        return
    sides = ("before", "after") if args.before else ("after",)
    for side, rows in count(100 if args.quick else 200, sides).items():
        raw = rows["raw"]
        shown = ", ".join(f"{row} {value:,.0f} ({value / raw:.2f}x)" for row, value in rows.items())
        print(f"{side}: instructions per request: {shown}")


if __name__ == "__main__":
    main()
