"""Section 4 worker, run in a fresh process: the peak RSS one streaming job adds.

``python -m bench.sections.memory_probe bulk|iterate URL TOKEN ACCOUNT_ID [N]``
prints one JSON line: the RSS before the work, the peak (VmHWM) after it, in MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
import time
from collections.abc import Iterator

from bench import procfs
from bench.people import person_stream
from billabex_async import BillabexClient, ContactUpsert

STREAM_LENGTH = 1_000_000
DISTINCT = 2_000
"""The stream repeats every DISTINCT people, so the simulator matches repeats by
email (a dict hit) instead of fuzzy-matching each new name against thousands:
its speed, not the client's memory, is what a growing account would change."""
MB = 2**20


async def _bulk(client: BillabexClient, account: str, stop_after: int) -> int:
    """bulk_upsert over a million-item generator, cancelled once ``stop_after`` are done."""
    reached = asyncio.Event()
    done_count = 0

    def progress(done: int, _total: int | None) -> None:
        nonlocal done_count
        done_count = done
        if done >= stop_after:
            reached.set()

    def stream() -> Iterator[ContactUpsert]:
        # Regenerated, not cached: the generator itself must hold nothing.
        people = person_stream(seed=4, tag="m")
        for i in range(STREAM_LENGTH):
            if i % DISTINCT == 0:
                people = person_stream(seed=4, tag="m")
            p = next(people)
            yield ContactUpsert(full_name=p.full_name, language="en", email=p.email)

    task = asyncio.create_task(
        client.contacts.bulk_upsert(account, stream(), concurrency=16, on_progress=progress)
    )
    waiter = asyncio.create_task(reached.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return done_count


async def _iterate(client: BillabexClient, account: str) -> int:
    count = 0
    async for _ in client.contacts.iterate(account, page_size=100):
        count += 1
    return count


async def _main(mode: str, url: str, token: str, account: str, n: int) -> dict[str, object]:
    gc.collect()
    exact = procfs.reset_peak()
    baseline = procfs.rss_bytes() / MB
    start = time.perf_counter()
    async with BillabexClient(token=token, base_url=url, rate_limit=None) as client:
        if mode == "bulk":
            items = await _bulk(client, account, n)
        else:
            items = await _iterate(client, account)
    seconds = time.perf_counter() - start
    peak = procfs.peak_bytes() / MB
    return {
        "mode": mode,
        "items": items,
        "seconds": seconds,
        "baseline_mb": baseline,
        "peak_mb": peak,
        "added_mb": peak - baseline,
        "peak_reset": exact,
    }


if __name__ == "__main__":
    mode, url, token, account = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    print(json.dumps(asyncio.run(_main(mode, url, token, account, n))))
