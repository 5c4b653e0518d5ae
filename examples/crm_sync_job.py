"""Example: a batch job pushing a CRM's contacts into Billabex, for many accounts at once.

The CRM export is an async generator that fetches pages on demand; the bulk
upsert reads it lazily, so a million rows run in constant memory. Every
account shares one client and so one rate limit. A 401 stops the job; an
account Billabex refuses (403/404) is skipped and the others go on.

    python examples/crm_sync_job.py                  # against the embedded simulator
    BILLABEX_TOKEN=... python examples/crm_sync_job.py ACCOUNT_ID [ACCOUNT_ID...]
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence

from _people import people

from billabex_async import BillabexClient, BulkReport, ContactUpsert, RateLimit
from billabex_async.testing import FakeBillabex

logger = logging.getLogger("crm_sync_job")

PAGE = 100  # rows per CRM page


async def crm_export(
    accounts: Sequence[str], per_account: int
) -> AsyncIterator[tuple[str, ContactUpsert]]:
    """What a CRM client would yield: (Billabex account, contact), page by page."""
    for number, account in enumerate(accounts):
        rows = people(per_account, seed=number)
        while page := [row for _, row in zip(range(PAGE), rows, strict=False)]:
            await asyncio.sleep(0)  # stands for the CRM's own HTTP call
            for contact in page:
                yield account, contact


async def run_job(client: BillabexClient, accounts: Sequence[str], per_account: int) -> BulkReport:
    """Upsert every exported contact; returns the report, even when cancelled."""
    report = BulkReport()  # ours: still readable if the job is cancelled half-way
    total = len(accounts) * per_account
    last_logged = 0

    def progress(done: int, _: int | None) -> None:
        nonlocal last_logged
        if done - last_logged >= total // 10 or done == total:
            last_logged = done
            logger.info("%d/%d contacts processed", done, total)

    started = time.monotonic()
    try:
        await client.bulk_upsert(
            crm_export(accounts, per_account), concurrency=8, on_progress=progress, report=report
        )
    except asyncio.CancelledError:
        logger.warning("cancelled: resume from item %d", report.resume_from)
        raise
    finally:
        logger.info(
            "%d succeeded, %d failed, %d not attempted in %.1f s",
            report.succeeded,
            len(report.failed),
            report.not_attempted,
            time.monotonic() - started,
        )
    for account, error in report.stopped_accounts.items():
        logger.warning("account %s skipped: %s", account, error)
    for failure in report.failed[:10]:
        # Index and reason only: names and emails stay out of the logs.
        logger.warning("item %d (%s) failed: %s", failure.index, failure.account_id, failure.error)
    return report


async def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if argv:
        async with BillabexClient() as client:  # BILLABEX_TOKEN, BILLABEX_BASE_URL
            report = await run_job(client, argv, per_account=1_000)
        return 0 if report.ok else 1
    # Demo: three accounts in the simulator plus one it does not know.
    async with FakeBillabex(rate_limit=RateLimit(200, 1.0)) as fake:
        accounts = [fake.account_id, fake.create_account(), fake.create_account()]
        accounts.append(str(uuid.uuid4()))
        async with BillabexClient(
            token=fake.token, base_url=fake.url, rate_limit=RateLimit(200, 1.0)
        ) as client:
            report = await run_job(client, accounts, per_account=300)
        stored = sum(len(fake.contacts(a)) for a in accounts[:3])
        print(f"simulator: {stored} contacts stored, {fake.stats.rate_limited} answered 429")
    # The unknown account is expected to be skipped here; anything else is a failure.
    return 0 if report.succeeded == 900 and len(report.stopped_accounts) == 1 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
