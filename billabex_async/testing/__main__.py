"""Testing layer: ``python -m billabex_async.testing`` runs FakeBillabex standalone."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable, Sequence

from billabex_async._types import RateLimit
from billabex_async.testing._faults import Faults
from billabex_async.testing._registration import server_metadata
from billabex_async.testing._server import FakeBillabex, check_account_id, check_token

EPILOG = """\
On start it prints the URL, the token, the account, the OAuth client it
accepts, and the export lines that point the SDK, the `billabex` command and
the README's quickstart at it. --token and --account keep those the same from
one start to the next.
"""


def parse_rate_limit(value: str) -> RateLimit | None:
    """``"300/60"`` -> RateLimit(300, 60.0); ``"none"``, ``"off"`` or ``"0"`` -> None."""
    try:
        return RateLimit.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type that reports ``check``'s ValueError as the option's error."""

    def parse(value: str) -> str:
        try:
            return check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def parse_port(value: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be an integer from 0 to 65535, got {value!r}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m billabex_async.testing",
        description="Run the Billabex Contacts API simulator until Ctrl-C.",
        epilog=EPILOG,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=parse_port, default=8080, help="0 picks a free port (default 8080)"
    )
    parser.add_argument(
        "--token",
        type=_checked(check_token),
        default=None,
        help="the bearer token to accept, instead of a new random one",
    )
    parser.add_argument(
        "--account",
        type=_checked(check_account_id),
        default=None,
        metavar="UUID",
        help="the id of the account created at start, instead of a new random one",
    )
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


def banner(fake: FakeBillabex) -> str:
    """What a started simulator prints: how to reach it, as ``key: value`` and shell lines."""
    metadata = server_metadata(fake.url)
    exports = {
        "BILLABEX_BASE_URL": fake.url,
        "BILLABEX_TOKEN": fake.token,
        "BILLABEX_ACCOUNT_ID": fake.account_id,
    }
    return "\n".join(
        [
            f"url: {fake.url}",
            f"token: {fake.token}",
            f"account_id: {fake.account_id}",
            f"oauth_client_id: {fake.oauth_client_id}",
            f"oauth_client_secret: {fake.oauth_client_secret}",
            f"oauth_authorize_url: {metadata['authorization_endpoint']}",
            f"oauth_token_url: {metadata['token_endpoint']}",
            "",
            "# For the SDK, the billabex command and the README's quickstart:",
            *(f"export {name}={shlex.quote(value)}" for name, value in exports.items()),
            "# Serving until Ctrl-C.",
        ]
    )


def listen_error(host: str, port: int, exc: OSError) -> str:
    """One line saying why the simulator cannot listen, and what to do about it."""
    if exc.errno is not None and exc.errno > 0:
        reason = os.strerror(exc.errno)  # asyncio's own text repeats the address
    else:
        reason = exc.strerror or str(exc)  # name resolution (gaierror) has no errno text
    hint = "; choose another --port, or --port 0 for a free one"
    taken = exc.errno == errno.EADDRINUSE
    return f"error: cannot listen on {host}:{port}: {reason}{hint if taken else ''}"


async def serve(args: argparse.Namespace) -> int:
    """Start the simulator, print how to reach it, wait for SIGINT/SIGTERM; the exit code."""
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
        token=args.token,
        account_id=args.account,
    )
    if args.seed_contacts:
        fake.seed_contacts(fake.account_id, args.seed_contacts)
    try:
        await fake.start()
    except OSError as exc:  # port taken, no permission, unknown host
        print(listen_error(args.host, args.port, exc), file=sys.stderr)
        return 1
    try:
        print(banner(fake), flush=True)
        await stop.wait()
    finally:
        await fake.close()
    stats = fake.stats
    print(f"stopped after {stats.requests} requests ({stats.rate_limited} 429s)", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(serve(args))
    except ValueError as exc:  # invalid option values (rates, sizes)
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
