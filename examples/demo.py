"""Demo: sync 2,000 contacts with the real ``billabex`` CLI, then re-sync with 1 % changed.

``make demo`` runs it; so does ``python examples/demo.py``. It starts the
embedded simulator (FakeBillabex) with Billabex's rate limit compressed 15x
(300 requests per 4 s instead of per 60 s, so the run takes about half a
minute), writes the contacts to ``.demo/contacts.csv``, runs
``billabex contacts sync`` on it in a subprocess, changes 20 rows and syncs
again, then prints how many requests each sync took.
"""

from __future__ import annotations

import asyncio
import csv
import os
import sys
import time
from pathlib import Path

import attrs
from _people import people

from billabex_async import ContactUpsert, RateLimit
from billabex_async.testing import FakeBillabex

CONTACTS = 2_000
CHANGED_EVERY = 100  # 1 %
RATE_LIMIT = "300/4"  # told to the simulator and to the CLI alike
DEMO_DIR = Path(".demo")


def write_csv(path: Path, contacts: list[ContactUpsert]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["full_name", "language", "email"])
        for contact in contacts:
            writer.writerow([contact.full_name, contact.language, contact.email or ""])


async def cli_sync(fake: FakeBillabex, path: Path) -> tuple[int, int]:
    """Run ``billabex contacts sync`` against the simulator; (exit code, requests it sent)."""
    env = {**os.environ, "BILLABEX_BASE_URL": fake.url, "BILLABEX_TOKEN": fake.token}
    before = fake.stats.requests
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billabex_async",
        "--rate-limit",
        RATE_LIMIT,
        "contacts",
        "sync",
        fake.account_id,
        str(path),
        env=env,
    )
    code = await process.wait()
    return code, fake.stats.requests - before


def prepare() -> tuple[Path, Path]:
    """The CSV files: every contact, then the same with 1 % of languages changed."""
    DEMO_DIR.mkdir(exist_ok=True)
    contacts = list(people(CONTACTS, seed=2024))
    first, second = DEMO_DIR / "contacts.csv", DEMO_DIR / "contacts-changed.csv"
    write_csv(first, contacts)
    changed = [
        attrs.evolve(c, language="fr" if c.language != "fr" else "de")
        if i % CHANGED_EVERY == 0
        else c
        for i, c in enumerate(contacts)
    ]
    write_csv(second, changed)
    return first, second


async def main() -> int:
    first, second = prepare()
    requests, window = RATE_LIMIT.split("/")
    async with FakeBillabex(rate_limit=RateLimit(int(requests), float(window)), seed=1) as fake:
        print(f"simulator on {fake.url}, limit {requests} requests per {window} s per token")
        print(f"\n$ billabex contacts sync {fake.account_id} {first}   # {CONTACTS} new contacts")
        started = time.monotonic()
        code1, sent1 = await cli_sync(fake, first)
        took1 = time.monotonic() - started
        if code1 != 0:
            print(f"the first sync failed (exit code {code1})", file=sys.stderr)
            return code1
        print(f"\n$ billabex contacts sync {fake.account_id} {second}   # 1 % changed")
        started = time.monotonic()
        code2, sent2 = await cli_sync(fake, second)
        took2 = time.monotonic() - started
        stored = len(fake.contacts(fake.account_id))
        rejected = fake.stats.rate_limited
    print(f"\nfirst sync: {sent1:>5} requests in {took1:5.1f} s  ({CONTACTS} contacts created)")
    print(
        f"re-sync:    {sent2:>5} requests in {took2:5.1f} s  ({CONTACTS // CHANGED_EVERY} changed)"
    )
    print(f"simulator: {stored} contacts stored, {rejected} requests answered 429")
    return code2


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
