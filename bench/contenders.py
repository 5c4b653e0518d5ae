"""Bench support: the contenders, the same upserts sent the ways a user would write them.

Each is an ``async def (target, people, rate_limit) -> None`` that upserts
every person (or tries to) and returns; the harness measures the rest from
the server's side, so every contender is counted the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import aiohttp
from aiolimiter import AsyncLimiter

from bench.openapi import GeneratedClient
from bench.people import Person
from bench.simulator import API, Target
from billabex_async import BillabexClient, ContactUpsert, RateLimit

__all__ = ["CONCURRENCY", "Contender", "contenders", "ours_at"]

CONCURRENCY = 16
"""Width of every concurrent contender, ours included, so they compete on equal terms."""

Run = Callable[[Target, Sequence[Person], RateLimit | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Contender:
    key: str
    label: str
    run: Run


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


def _session(target: Target) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {target.token}"}, raise_for_status=False
    )


def _upsert_url(target: Target) -> str:
    return f"{target.url}{API}/accounts/{target.account_id}/contacts/upsert"


def ours_at(concurrency: int) -> Run:
    """A: ``client.contacts.bulk_upsert``, the client's RateLimit set to the server's."""

    async def run(target: Target, items: Sequence[Person], rate_limit: RateLimit | None) -> None:
        async with BillabexClient(
            token=target.token, base_url=target.url, rate_limit=rate_limit
        ) as client:
            contacts = (
                ContactUpsert(full_name=p.full_name, language=p.language, email=p.email)
                for p in items
            )
            report = await client.contacts.bulk_upsert(
                target.account_id, contacts, concurrency=concurrency
            )
        if report.failed:
            raise RuntimeError(f"bulk_upsert failed {len(report.failed)} items: {report.failed[0]}")

    return run


async def sequential(target: Target, items: Sequence[Person], _: RateLimit | None) -> None:
    """B: the guide's loop: one awaited PUT after another, no error handling."""
    url = _upsert_url(target)
    async with _session(target) as session:
        for person in items:
            async with session.put(url, json=person.wire()) as response:
                await response.read()


async def gather_retry(target: Target, items: Sequence[Person], _: RateLimit | None) -> None:
    """C: asyncio.gather, 16 at a time, retrying each 429 after its Retry-After."""
    url = _upsert_url(target)
    gate = asyncio.Semaphore(CONCURRENCY)
    async with _session(target) as session:

        async def one(person: Person) -> None:
            async with gate:
                while True:
                    async with session.put(url, json=person.wire()) as response:
                        await response.read()
                        if response.status != 429:
                            return
                        delay = _retry_after(response.headers.get("Retry-After"))
                    await asyncio.sleep(delay)

        await asyncio.gather(*(one(p) for p in items))


async def aiolimiter_retry(
    target: Target, items: Sequence[Person], rate_limit: RateLimit | None
) -> None:
    """D: AsyncLimiter(limit, window) around every PUT, gather, retry 429s after Retry-After.

    Without a limit the limiter never waits: a plain gather of every item
    (aiohttp's pool caps it at 100 connections).
    """
    limit = rate_limit or RateLimit(10**9, 1.0)
    limiter = AsyncLimiter(limit.requests, limit.window)
    url = _upsert_url(target)
    async with _session(target) as session:

        async def one(person: Person) -> None:
            while True:
                async with limiter, session.put(url, json=person.wire()) as response:
                    await response.read()
                    if response.status != 429:
                        return
                    delay = _retry_after(response.headers.get("Retry-After"))
                await asyncio.sleep(delay)

        await asyncio.gather(*(one(p) for p in items))


def generated(client_code: GeneratedClient) -> Run:
    """E: the client openapi-python-client generates from openapi/contacts.yaml (httpx)."""

    async def run(target: Target, items: Sequence[Person], _: RateLimit | None) -> None:
        account = UUID(target.account_id)
        gate = asyncio.Semaphore(CONCURRENCY)
        client = client_code.authenticated_client(base_url=target.url + API, token=target.token)
        async with client:

            async def one(person: Person) -> None:
                body = client_code.contact_upsert(
                    full_name=person.full_name, language=person.language, email=person.email
                )
                async with gate:
                    while True:
                        response = await client_code.upsert_contact.asyncio_detailed(
                            account, client=client, body=body
                        )
                        if response.status_code != 429:
                            return
                        await asyncio.sleep(_retry_after(response.headers.get("Retry-After")))

            await asyncio.gather(*(one(p) for p in items))

    return run


def contenders(client_code: GeneratedClient | None) -> list[Contender]:
    """All five, in table order; E only when its client could be generated."""
    found = [
        Contender(
            "A", f"billabex_async bulk_upsert (concurrency {CONCURRENCY})", ours_at(CONCURRENCY)
        ),
        Contender("B", "sequential aiohttp loop (the guide's)", sequential),
        Contender("C", f"aiohttp gather ×{CONCURRENCY} + Retry-After", gather_retry),
        Contender("D", "aiolimiter + gather + Retry-After", aiolimiter_retry),
    ]
    if client_code is not None:
        found.append(
            Contender(
                "E",
                f"openapi-python-client (httpx) gather ×{CONCURRENCY} + Retry-After",
                generated(client_code),
            )
        )
    return found
