"""Benchmark of bulk upsert and sync against the simulator: ``python bench/bench_bulk.py``.

(a) bulk_upsert throughput against a raw aiohttp loop at the same concurrency
    (same simulator, same run, no rate limit on either side; rounds alternate,
    each on a fresh account, and the best round of each side counts);
(b) peak RSS of a 1,000,000-item generator cancelled after 20,000 upserts,
    measured in a subprocess from /proc/self/status (VmHWM) before and after;
(c) requests spent re-syncing 10,000 unchanged contacts.

The simulator runs in its own process, so its CPU and memory are not ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import aiohttp

from billabex_async import BillabexClient, BulkReport, ContactUpsert, RateLimit
from billabex_async.bulk import bulk_upsert_account

CONCURRENCY = 8
ROUND = 2_000
RSS_ITEMS, RSS_STOP = 1_000_000, 20_000
SYNC_CONTACTS = 10_000

ROUNDS = 3  # of each side, alternating
# Started with `python -c`: a FakeBillabex with a fresh account per round and
# per measurement (an upsert's matching cost grows with the account), the sync
# account seeded; prints its coordinates, serves until stdin closes.
SERVER = f"""
import asyncio, json, sys
from billabex_async.testing import FakeBillabex

async def main():
    async with FakeBillabex(rate_limit=None, log_limit=1000, seed=1) as fake:
        names = [f"round{{i}}" for i in range({2 * ROUNDS})] + ["rss", "sync"]
        accounts = {{name: fake.create_account() for name in names}}
        fake.seed_contacts(accounts["sync"], {SYNC_CONTACTS})
        info = {{"url": fake.url, "token": fake.token, "accounts": accounts}}
        print(json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


class Server(TypedDict):
    url: str
    token: str
    accounts: dict[str, str]


def contacts(tag: str, n: int) -> Iterator[ContactUpsert]:
    """Lazily made contacts whose names are far apart (hex digests) and emails unique."""
    for i in range(n):
        digest = hashlib.blake2b(f"{tag}{i}".encode(), digest_size=6).hexdigest()
        yield ContactUpsert(full_name=f"Contact {digest}", language="en", email=f"{digest}@x.io")


async def raw_loop(url: str, token: str, account: str, items: list[ContactUpsert]) -> float:
    """The baseline: N workers PUT the items with plain aiohttp; returns seconds."""
    path = f"{url}/api/public/v1/accounts/{account}/contacts/upsert"
    headers = {"Authorization": f"Bearer {token}"}
    source = iter(items)
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for item in source:
                body = {"fullName": item.full_name, "language": item.language, "email": item.email}
                async with session.put(path, json=body, headers=headers) as resp:
                    await resp.read()
                    assert resp.status in (200, 201), resp.status

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started


async def sdk_loop(client: BillabexClient, account: str, items: list[ContactUpsert]) -> float:
    started = time.perf_counter()
    report = await client.contacts.bulk_upsert(account, items, concurrency=CONCURRENCY)
    assert report.ok, report.failed[:1]
    return time.perf_counter() - started


async def throughput(server: Server) -> tuple[float, float]:
    """Best round of each side, in upserts per second (the best is the least disturbed)."""
    url, token, accounts = server["url"], server["token"], server["accounts"]
    raw, sdk = [], []
    async with BillabexClient(token, base_url=url, rate_limit=None) as client:
        for n in range(ROUNDS):
            items = list(contacts(f"raw{n}", ROUND))
            raw.append(await raw_loop(url, token, accounts[f"round{2 * n}"], items))
            items = list(contacts(f"sdk{n}", ROUND))
            sdk.append(await sdk_loop(client, accounts[f"round{2 * n + 1}"], items))
    return ROUND / min(raw), ROUND / min(sdk)


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


async def rss_child(url: str, token: str, account: str) -> None:
    """In the measuring subprocess: print peak RSS before and after the cancelled run."""
    async with BillabexClient(token, base_url=url, rate_limit=RateLimit(10**6, 1.0)) as client:
        await client.contacts.upsert(account, next(contacts("warm", 1)))  # imports, pool
        before = vm_hwm_kb()
        report = BulkReport()

        def stop(done: int, total: int | None) -> None:
            if done == RSS_STOP:
                task.cancel()

        task = asyncio.create_task(
            bulk_upsert_account(
                client.contacts,
                account,
                contacts("rss", RSS_ITEMS),
                concurrency=CONCURRENCY,
                on_progress=stop,
                report=report,
            )
        )
        with contextlib.suppress(asyncio.CancelledError):
            await task
        after = vm_hwm_kb()
    print(json.dumps({"before": before, "after": after, "done": report.succeeded}))


async def peak_rss(server: Server) -> dict[str, int]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--rss",
        server["url"],
        server["token"],
        server["accounts"]["rss"],
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    result: dict[str, int] = json.loads(out)
    return result


async def resync_requests(server: Server) -> tuple[int, int]:
    url, token, account = server["url"], server["token"], server["accounts"]["sync"]
    async with BillabexClient(token, base_url=url, rate_limit=None) as client:
        desired = [
            ContactUpsert(
                full_name=c.full_name,
                language=c.language,
                email=c.email.address if c.email else None,
            )
            async for c in client.contacts.iterate(account)
        ]
    sent: list[str] = []
    async with BillabexClient(
        token, base_url=url, rate_limit=None, on_request=lambda e: sent.append(e.method)
    ) as client:
        result = await client.contacts.sync(account, desired, delete_missing=True)
    assert result.unchanged == SYNC_CONTACTS, result
    return len(sent), sum(1 for method in sent if method != "GET")


async def main() -> None:
    server_process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert server_process.stdout is not None
    assert server_process.stdin is not None
    server: Server = json.loads(await server_process.stdout.readline())
    try:
        started = time.perf_counter()
        raw, sdk = await throughput(server)
        rss = await peak_rss(server)
        requests, writes = await resync_requests(server)
        elapsed = time.perf_counter() - started
    finally:
        server_process.stdin.close()
        await server_process.wait()
    grown = (rss["after"] - rss["before"]) / 1024
    rows = [
        ("(a) raw aiohttp loop, upserts/s", f"{raw:,.0f}", ""),
        ("(a) bulk_upsert, upserts/s", f"{sdk:,.0f}", ""),
        ("(a) ratio bulk / raw", f"{sdk / raw:.2f}", ">= 0.80"),
        (f"(b) peak RSS growth, 1M items cut at {rss['done']:,}", f"{grown:.1f} MB", "< 100 MB"),
        (f"(c) requests to re-sync {SYNC_CONTACTS:,} unchanged", f"{requests}", "<= 101"),
        ("(c) of which writes", f"{writes}", "0"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")
    rounds = f"best of {ROUNDS} rounds of {ROUND} upserts a side"
    print(f"(concurrency {CONCURRENCY}, {rounds}, {elapsed:.0f} s in all)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss"]:
        asyncio.run(rss_child(*sys.argv[2:5]))
    else:
        asyncio.run(main())
