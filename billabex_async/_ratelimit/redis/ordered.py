"""Rate-limit layer: fire-and-forget updates sent in order by one background task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["OrderedSender"]

logger = logging.getLogger("billabex_async")

Update = Callable[[], Awaitable[object]]


class OrderedSender:
    """Runs queued updates one at a time, oldest first, on a task started on demand.

    The limiter protocol's ``release``/``observe``/``pause`` are synchronous, but
    a shared limiter must tell Redis about them. They queue an update here; one
    task awaits the updates one by one, so a release always reaches Redis before
    the header correction that followed it.

    ``failed(exc)`` hears every exception of the ``expected`` types; any
    other one is logged. While ``skip()`` is true, updates are dropped
    unsent (the shared store is known to be down).
    """

    __slots__ = ("_expected", "_failed", "_queue", "_skip", "_task")

    def __init__(
        self,
        *,
        expected: tuple[type[BaseException], ...],
        failed: Callable[[BaseException], None],
        skip: Callable[[], bool],
    ) -> None:
        self._expected = expected
        self._failed = failed
        self._skip = skip
        self._queue: deque[Update] = deque()
        # The one task draining the queue, or None when it is empty.
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, update: Update) -> None:
        """Queue ``update`` (needs a running loop); it runs after every earlier one."""
        self._queue.append(update)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self) -> None:
        """Wait until the queue is empty (each update sent or failed)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def aclose(self, grace: float) -> int:
        """Flush for at most ``grace`` seconds, then stop; returns how many were dropped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.flush()
        dropped = len(self._queue)
        self._queue.clear()
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return dropped

    async def _drain(self) -> None:
        try:
            while self._queue:
                update = self._queue.popleft()
                if self._skip():
                    continue
                try:
                    await update()
                except self._expected as exc:
                    self._failed(exc)
                except Exception:
                    logger.exception("background rate-limit update failed; ignored")
        finally:
            self._task = None
