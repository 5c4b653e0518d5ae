"""Testing layer: ``python -m billabex_async.testing`` runs FakeBillabex standalone."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from billabex_async._types import RateLimit
from billabex_async.testing._faults import Faults
from billabex_async.testing._server import FakeBillabex


def parse_rate_limit(value: str) -> RateLimit | None:
    """``"300/60"`` -> RateLimit(300, 60.0); ``"none"``, ``"off"`` or ``"0"`` -> None."""
    try:
        return RateLimit.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m billabex_async.testing",
        description="Run the Billabex Contacts API simulator until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--rate-limit",
        type=parse_rate_limit,
        default=RateLimit(),
        help="REQUESTS/SECONDS per token, or 'none' (default 300/60)",
    )
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of 503s")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="share of resets after apply")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--jitter", type=float, default=0.0, help="extra random seconds")
    parser.add_argument("--foreign-share", type=float, default=0.0)
    parser.add_argument("--max-page-size", type=int, default=100)
    parser.add_argument(
        "--read-lag", type=int, default=0, metavar="N", help="list pages show a write N lists late"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--seed-contacts", type=int, default=0, metavar="N")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


async def serve(args: argparse.Namespace) -> None:
    """Start the simulator, print how to reach it, wait for SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    fake = FakeBillabex(
        rate_limit=args.rate_limit,
        faults=Faults(error_rate=args.fault_rate, reset_after_rate=args.reset_rate),
        latency=args.latency,
        jitter=args.jitter,
        foreign_share=args.foreign_share,
        max_page_size=args.max_page_size,
        read_lag=args.read_lag,
        seed=args.seed,
        port=args.port,
        host=args.host,
    )
    if args.seed_contacts:
        fake.seed_contacts(fake.account_id, args.seed_contacts)
    async with fake:
        print(f"url: {fake.url}")
        print(f"token: {fake.token}")
        print(f"account_id: {fake.account_id}", flush=True)
        await stop.wait()
        stats = fake.stats
        print(f"stopped after {stats.requests} requests ({stats.rate_limited} 429s)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(serve(args))
    except ValueError as exc:  # invalid option values (rates, sizes)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
