"""Example: one of N batch workers upserting contacts under one token's shared rate limit.

Every copy reads the same CSV (columns: account_id, full_name, email,
language) and takes the rows of the accounts it owns: a stable hash of the
account id, modulo the number of copies. All rows of one account go to one
copy, which orders the rows Billabex would match to the same contact (same
email, or names within two edits) one after the other; split by row number,
two copies could send two such rows at once and the second would overwrite
the first, or create a duplicate. The limit of 300 requests per 60 s is kept
in Redis, so all copies together stay under it, on one machine or many::

    export BILLABEX_TOKEN=...  BILLABEX_REDIS_URL=redis://localhost:6379/0
    for i in 0 1 2 3; do
        python examples/redis_worker.py contacts.csv --shard $i --shards 4 &
    done; wait

Needs ``pip install 'billabex-async[redis]'``. If Redis goes away mid-run,
each copy falls back to a local limit (and logs it); pass
``--fail-closed`` to stop sending instead.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import sys
import uuid
import zlib
from collections.abc import Iterator

from billabex_async import BillabexClient, ContactUpsert, RateLimit

logger = logging.getLogger("redis_worker")


def shard_of(account_id: str, shards: int) -> int:
    """The copy that owns ``account_id``: the same answer in every process, on every machine.

    CRC-32 of the canonical UUID (so spelling and case do not matter), not
    Python's ``hash()``, which is salted per process. ValueError if no UUID.
    """
    canonical = str(uuid.UUID(account_id))
    return zlib.crc32(canonical.encode("ascii")) % shards


def my_rows(path: str, shard: int, shards: int) -> Iterator[tuple[str, ContactUpsert]]:
    """This copy's (account_id, contact) pairs, read lazily: the rows of the accounts it owns."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        for row in reader:
            try:
                owner = shard_of(row["account_id"], shards)
            except ValueError:
                raise ValueError(f"{path}:{reader.line_num}: account_id is not a UUID") from None
            if owner != shard:
                continue
            contact = ContactUpsert(
                full_name=row["full_name"],
                language=row.get("language") or "en",
                email=row.get("email") or None,
            )
            yield row["account_id"], contact


async def run(args: argparse.Namespace) -> int:
    rate_limit = RateLimit(
        300,
        60.0,
        storage=os.environ.get("BILLABEX_REDIS_URL", "redis://localhost:6379/0"),
        on_storage_error="raise" if args.fail_closed else "fallback",
    )

    def progress(done: int, total: int | None) -> None:
        if done % 100 == 0:
            logger.info("shard %d/%d: %d upserts done", args.shard, args.shards, done)

    # The token comes from BILLABEX_TOKEN; closing the client closes the Redis pool.
    async with BillabexClient(rate_limit=rate_limit) as client:
        report = await client.bulk_upsert(
            my_rows(args.csv, args.shard, args.shards),
            concurrency=args.concurrency,
            on_progress=progress,
        )
    logger.info(
        "shard %d/%d: %d succeeded, %d failed", args.shard, args.shards,
        report.succeeded, len(report.failed),
    )  # fmt: skip
    for failure in report.failed[:20]:
        logger.error("row %d (%s): %s", failure.index, failure.item.full_name, failure.error)
    return 1 if report.failed or report.error else 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Upsert this copy's share of a contacts CSV.")
    parser.add_argument("csv", help="CSV with account_id, full_name, email, language columns")
    parser.add_argument("--shard", type=int, default=0, help="this copy's number, 0-based")
    parser.add_argument("--shards", type=int, default=1, help="how many copies run")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per copy")
    parser.add_argument(
        "--fail-closed", action="store_true", help="stop sending while Redis is unreachable"
    )
    args = parser.parse_args()
    if not 0 <= args.shard < args.shards:
        parser.error("--shard must be in [0, --shards)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
