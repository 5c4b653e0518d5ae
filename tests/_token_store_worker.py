"""Test helper: one process of a fleet sharing a tenant's OAuth tokens through Redis.

``python tests/_token_store_worker.py '<json>'`` builds a provider from a
``RedisTokenStore`` and a client on it, then, for each line ``go OFFSET``
on stdin, sets its clock OFFSET seconds ahead of the wall clock (the
simulator's is moved as far), lists contacts ``requests`` times
(``concurrency`` at once) and prints one JSON line:
{"ok": n, "errors": [...], "refreshes": n}. Any other line ends it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from redis import asyncio as aioredis

from billabex_async import BillabexClient
from billabex_async.auth import OAuthTokenProvider, RedisTokenStore


async def turn(client: BillabexClient, job: dict[str, Any]) -> list[str]:
    """``requests`` list calls, ``concurrency`` at a time; the errors they raised."""
    errors: list[str] = []

    async def one() -> None:
        try:
            await client.contacts.list(job["account_id"])
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            errors.append(f"{type(exc).__name__}: {exc}")

    for _ in range(job["requests"] // job["concurrency"]):
        await asyncio.gather(*(one() for _ in range(job["concurrency"])))
    return errors


async def main(job: dict[str, Any]) -> None:
    redis = aioredis.Redis.from_url(job["redis_url"])
    offset = [0.0]
    try:
        provider = await OAuthTokenProvider.from_async_store(
            RedisTokenStore(redis, key=job["key"]), clock=lambda: time.time() + offset[0]
        )
        async with BillabexClient(provider, base_url=job["base_url"], rate_limit=None) as client:
            loop = asyncio.get_running_loop()
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                command, _, value = line.partition(" ")
                if command != "go":
                    return
                offset[0] = float(value)
                errors = await turn(client, job)
                ok = job["requests"] - len(errors)
                answer = {"ok": ok, "errors": errors[:3], "refreshes": provider.refreshes}
                print(json.dumps(answer), flush=True)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
