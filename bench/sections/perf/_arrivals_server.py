"""Performance support: the standalone simulator, also printing when each admitted request came.

``python -m bench.sections.perf._arrivals_server`` takes the options of
``python -m billabex_async.testing`` (``bench.simulator.SimProcess`` passes
them) and prints the same banner and "stopped after" line; after that, a
JSON list of the server's arrival times of its 2xx answers, for the
utilisation rows (the standalone server keeps those to itself).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from billabex_async.testing import FakeBillabex
from billabex_async.testing.__main__ import build_parser

UTILISATION_SEED = 7
"""The seed the utilisation rows have always used, whatever the launcher passes."""


async def serve(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    fake = FakeBillabex(
        rate_limit=args.rate_limit, latency=args.latency, seed=UTILISATION_SEED, port=args.port
    )
    async with fake:
        print(f"url: {fake.url}")
        print(f"token: {fake.token}")
        print(f"account_id: {fake.account_id}", flush=True)
        await stop.wait()
        ok = [r.time for r in fake.requests if r.status is not None and 200 <= r.status < 300]
        stats = fake.stats
        print(f"stopped after {stats.requests} requests ({stats.rate_limited} 429s)")
        print(json.dumps(ok), flush=True)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1:]))
