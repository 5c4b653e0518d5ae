"""Fleet section (``fleet``): client CPU per request for many tenants in one process.

    python -m bench --only fleet [--tenants 200] [--requests 4000] [--concurrency 50] [--quick]

Both contenders send the same requests (a one-contact page of an account,
a GET) for ``tenants`` tenants in turn, ``concurrency`` at once, to the
simulator in its own process (no server limit, so the client's own cost is
what is measured): a ``ClientPool`` (every tenant's client on one shared
connector, opened on first use) against one ``BillabexClient`` per tenant,
each with its own session and connection pool. Every tenant is first sent
one request (not timed: the clients open); then ``requests`` are timed.
Client CPU is this process's (``time.process_time``); requests per
CPU-second is what one core sustains. The standalone simulator has one
token, so every client holds it, each with its own client-side window
(a limit too high to wait on: its cost is counted, it never waits).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from bench import procfs
from bench.simulator import SimProcess, Target
from billabex_async import BillabexClient, ClientPool, RateLimit

__all__ = ["Row", "main", "measure"]

QUICK = {"tenants": 200, "requests": 1000, "concurrency": 50}
"""The smoke run's sizes (every tenant still has a client): figures not to quote."""
RATE = RateLimit(1_000_000, 60.0)  # per client; never reached


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    requests: int
    wall: float
    cpu_us: float
    """Client CPU per request, in microseconds."""
    rss_mb: float
    """Resident memory growth of this process over the run (clients included)."""

    @property
    def per_core(self) -> float:
        """Requests one fully busy core would send per second, at this CPU per request."""
        return 1e6 / self.cpu_us if self.cpu_us else 0.0


Send = Callable[[str], "contextlib.AbstractAsyncContextManager[BillabexClient]"]


@contextlib.asynccontextmanager
async def _pooled(target: Target, tenants: list[str]) -> AsyncIterator[Send]:
    async def credentials(tenant: str) -> str:
        return target.token

    async with ClientPool(credentials, base_url=target.url, rate_limit=RATE) as pool:
        yield pool.client


@contextlib.asynccontextmanager
async def _separate(target: Target, tenants: list[str]) -> AsyncIterator[Send]:
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            t: await stack.enter_async_context(
                BillabexClient(target.token, base_url=target.url, rate_limit=RATE)
            )
            for t in tenants
        }

        @contextlib.asynccontextmanager
        async def use(tenant: str) -> AsyncIterator[BillabexClient]:
            yield clients[tenant]

        yield use


async def _drive(send: Send, target: Target, order: list[str], concurrency: int) -> None:
    queue = iter(order)

    async def worker() -> None:
        for tenant in queue:
            async with send(tenant) as client:
                await client.contacts.list(target.account_id, first=1)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(
    name: str, target: Target, *, tenants: int, requests: int, concurrency: int
) -> Row:
    """One contender: every tenant warmed with one request, then ``requests`` timed."""
    names = [f"tenant-{i:03d}" for i in range(tenants)]
    opener = _pooled if name == "pool" else _separate
    rss_before = procfs.rss_bytes()
    async with opener(target, names) as send:
        await _drive(send, target, names, concurrency)
        order = [names[i % tenants] for i in range(requests)]
        cpu, wall = time.process_time(), time.perf_counter()
        await _drive(send, target, order, concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rss = (procfs.rss_bytes() - rss_before) / 2**20
    return Row(name, requests, wall, cpu / requests * 1e6, rss)


def table(rows: list[Row], tenants: int, concurrency: int) -> str:
    head = f"{tenants} tenants in one process, {concurrency} requests at once, no server limit\n"
    cols = f"{'contender':<28}{'requests':>9}{'wall s':>8}{'req/s':>8}"
    cols += f"{'CPU us/req':>12}{'req/CPU-s':>11}{'+RSS MB':>9}"
    lines = [head, cols, "-" * len(cols)]
    labels = {"pool": "ClientPool (one connector)", "separate": "one client per tenant"}
    for r in rows:
        lines.append(
            f"{labels[r.name]:<28}{r.requests:>9}{r.wall:>8.2f}{r.requests / r.wall:>8.0f}"
            f"{r.cpu_us:>12.0f}{r.per_core:>11.0f}{r.rss_mb:>9.1f}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench --only fleet",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="smoke sizes, figures not to quote")
    return parser


async def _both(args: argparse.Namespace) -> list[Row]:
    async with SimProcess() as sim:
        sizes = {"tenants": args.tenants, "requests": args.requests}
        return [
            await measure(name, sim.target, concurrency=args.concurrency, **sizes)
            for name in ("pool", "separate")
        ]


def main(argv: Sequence[str] | None = None) -> int:
    """Both contenders, printed as a table."""
    args = build_parser().parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    rows = asyncio.run(_both(args))
    print(table(rows, args.tenants, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
