"""Section 3 (``resync``): re-sync 10,000 contacts, 1 % changed; requests counted at the server."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from billabex_async import BillabexClient, ContactUpsert
from billabex_async.models import Contact
from billabex_async.testing import FakeBillabex

__all__ = ["ResyncRun", "run_resync"]


@dataclass(frozen=True, slots=True)
class Pass:
    """One way of re-syncing, as the server saw it."""

    requests: int
    reads: int
    writes: int
    seconds: float
    """Wall time against the unlimited local simulator (not a projection)."""
    converged: bool
    """The account holds exactly the desired contacts afterwards."""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ResyncRun:
    contacts: int
    changed: int
    sync: Pass
    bulk: Pass
    unchanged: Pass | None = None
    """sync(delete_missing=True) of the stored contacts as they are: one listing, no write."""


def _desired(stored: Sequence[Contact], share: float, seed: int) -> list[ContactUpsert]:
    """The stored contacts as upserts; every ``1/share``-th changes its name, language or email.

    ``share`` 0: none changes.
    """
    rng = random.Random(seed)
    step = round(1 / share) if share else 0
    desired = []
    for i, c in enumerate(stored):
        name, language = c.full_name, c.language
        email = c.email.address if c.email else None
        if step and i % step == 0:
            kind = (i // step) % 3
            if kind == 0:
                name = f"{name} {''.join(rng.choices('bcdfghjklmnpqrstvwxz', k=8)).capitalize()}"
            elif kind == 1:
                language = "fr" if language != "fr" else "de"
            else:
                email = f"moved.{i}@example.org"
        desired.append(ContactUpsert(full_name=name, language=language, email=email))
    return desired


def _converged(fake: FakeBillabex, desired: Sequence[ContactUpsert]) -> bool:
    def key(name: str, language: str, email: str | None) -> tuple[str, str, str | None]:
        return name, language, None if email is None else email.lower()

    held = {
        key(c.full_name, c.language, c.email.address if c.email else None)
        for c in fake.contacts(fake.account_id)
    }
    return held == {key(d.full_name, d.language, d.email) for d in desired}


async def _pass(mode: str, *, contacts: int, share: float, concurrency: int, seed: int) -> Pass:
    async with FakeBillabex(rate_limit=None, seed=seed, log_limit=None) as fake:
        fake.seed_contacts(fake.account_id, contacts)
        desired = _desired(fake.contacts(fake.account_id), share, seed)
        error = None
        async with BillabexClient(token=fake.token, base_url=fake.url, rate_limit=None) as c:
            start = time.perf_counter()
            if mode == "sync":
                result = await c.contacts.sync(fake.account_id, desired, concurrency=concurrency)
                if not result.ok:
                    error = f"{len(result.failed)} failed, error={result.error}"
            elif mode == "unchanged":
                result = await c.contacts.sync(
                    fake.account_id, desired, delete_missing=True, concurrency=concurrency
                )
                if not result.ok or result.unchanged != contacts:
                    error = f"{result.unchanged} of {contacts} unchanged, error={result.error}"
            else:
                report = await c.contacts.bulk_upsert(
                    fake.account_id, desired, concurrency=concurrency
                )
                if not report.ok:
                    error = f"{len(report.failed)} failed, error={report.error}"
            seconds = time.perf_counter() - start
        log = fake.requests
        reads = sum(1 for r in log if r.method == "GET")
        converged = _converged(fake, desired)
    return Pass(len(log), reads, len(log) - reads, seconds, converged, error)


async def run_resync(*, contacts: int, share: float, concurrency: int, seed: int) -> ResyncRun:
    """sync() and bulk_upsert() of the same desired list, each on a freshly seeded simulator.

    Then sync() with ``delete_missing`` of the contacts as stored, nothing changed.
    """
    runs = {
        mode: await _pass(mode, contacts=contacts, share=share, concurrency=concurrency, seed=seed)
        for mode in ("sync", "bulk")
    }
    unchanged = await _pass(
        "unchanged", contacts=contacts, share=0.0, concurrency=concurrency, seed=seed
    )
    return ResyncRun(
        contacts=contacts,
        changed=len(range(0, contacts, round(1 / share))),
        sync=runs["sync"],
        bulk=runs["bulk"],
        unchanged=unchanged,
    )
