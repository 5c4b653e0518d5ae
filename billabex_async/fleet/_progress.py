"""Fleet layer: a job's progress in Redis, a hash per job and one event stream.

The hash (``{prefix}:progress:{job_id}``) holds the latest state of the job:
``state`` (running, retrying, complete, failed), ``try``, ``worker``,
``done``/``total`` writes, times, and the final counts. Every change is also
appended to the stream ``{prefix}:events``, so a dashboard (or a test) can
block on what happens instead of polling. Sync calls ``update`` on every
write; at most one Redis round trip per ``interval`` carries the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from billabex_async.fleet import _serialize
from billabex_async.fleet._keys import events_key, progress_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["EVENTS_MAXLEN", "ProgressWriter", "worker_name"]

logger = logging.getLogger("billabex_async")

EVENTS_MAXLEN = 10_000  # events kept in the stream (approximately): a few nights of a fleet
DEFAULT_INTERVAL = 0.25  # seconds between two progress writes of one job


def worker_name() -> str:
    """``host:pid``: which process ran a try, shown in progress and events."""
    return f"{socket.gethostname()}:{os.getpid()}"


class ProgressWriter:
    """Writes one job try's progress; ``update`` is synchronous (sync's callback)."""

    __slots__ = (
        "_base",
        "_dirty",
        "_done",
        "_flusher",
        "_interval",
        "_key",
        "_redis",
        "_stream",
        "_total",
        "_ttl",
    )

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        job_id: str,
        fields: Mapping[str, str | int],
        ttl: float,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._redis = redis
        self._key = progress_key(prefix, job_id)
        self._stream = events_key(prefix)
        self._base = {"job_id": job_id, **fields}
        self._ttl = max(1, int(ttl))
        self._interval = interval
        self._done = 0
        self._total: int | None = None
        self._dirty = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    async def _write(self, event: str, fields: Mapping[str, object]) -> None:
        values = {
            k: v if isinstance(v, str | int | float) else _serialize.dumps(v).decode()
            for k, v in fields.items()
            if v is not None
        }
        values["updated_at"] = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key, mapping=values)
            pipe.expire(self._key, self._ttl)
            entry: dict[Any, Any] = {**self._base, **values, "event": event}
            pipe.xadd(
                self._stream,
                entry,
                maxlen=EVENTS_MAXLEN,
                approximate=True,
            )
            await pipe.execute()

    async def start(self) -> None:
        """Record the try as running, and start sending progress."""
        await self._redis.delete(self._key)  # an earlier try's counts are not this one's
        await self._write(
            "started", {**self._base, "state": "running", "done": 0, "started_at": time.time()}
        )
        self._flusher = asyncio.create_task(self._flush_loop())

    def update(self, done: int, total: int | None) -> None:
        """Sync's ``on_progress``: ``done`` writes settled of ``total``."""
        self._done, self._total = done, total
        self._dirty.set()

    async def _flush_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._write("progress", {"done": self._done, "total": self._total})
            except Exception as exc:  # noqa: BLE001 - progress is best effort; the sync goes on
                logger.warning("fleet: progress not written: %s", type(exc).__name__)
            await asyncio.sleep(self._interval)

    def stop(self) -> None:
        """Stop sending progress, writing nothing more (the try was cancelled)."""
        if self._flusher is not None:
            self._flusher.cancel()

    async def finish(self, state: str, fields: Mapping[str, object]) -> None:
        """Stop sending progress and record the try's end (``state``, counts, error)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        done = {"done": self._done, "total": self._total}
        await self._write(
            "finished", {**done, **fields, "state": state, "finished_at": time.time()}
        )
