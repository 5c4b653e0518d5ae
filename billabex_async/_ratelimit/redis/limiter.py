"""Rate-limit layer: the sliding-window limiter shared through Redis by every process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from billabex_async._ratelimit.memory import SlidingWindowLimiter
from billabex_async._ratelimit.protocol import Ticket
from billabex_async._ratelimit.redis import scripts
from billabex_async._ratelimit.redis.health import RETRY_INTERVAL, Health, OnError
from billabex_async._ratelimit.redis.ordered import OrderedSender
from billabex_async._ratelimit.redis.store import STORAGE_ERRORS, TokenStore
from billabex_async._ratelimit.window import EDGE_MARGIN

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "LEASE_MARGIN", "RedisLimiter"]

logger = logging.getLogger("billabex_async")

# A sender that dies mid-request never releases its slot; the slot still
# counts for the longest the request could have lived, then one window.
LEASE_MARGIN = 5.0  # seconds on top of window + request timeout
DEFAULT_REQUEST_TIMEOUT = 30.0
# Waiters re-ask Redis at least this often (seconds): another process may
# cancel a slot, and nothing tells us when it does.
MAX_POLL = 1.0
# How long close() waits for queued releases to reach Redis (seconds).
FLUSH_TIMEOUT = 2.0


class RedisLimiter:
    """At most ``limit`` requests per sliding ``window`` seconds, over every process.

    Usage (what the transport does; ``BillabexClient`` builds it from
    ``RateLimit(300, 60.0, storage="redis://host:6379/0")``)::

        limiter = RedisLimiter("redis://localhost:6379/0", 300, 60.0, key=token_hash)
        ticket = await limiter.acquire()  # waits while 300 slots are counted in Redis
        try:
            response = await send()
        finally:
            limiter.release()             # counts until now + window, in Redis
        limiter.observe(limit=..., remaining=..., reset=..., sent=ticket)
        await limiter.aclose()

    Same semantics as ``SlidingWindowLimiter``, shared: a slot is taken at
    send, stays counted while in flight (at most ``lease`` seconds, default
    window + request timeout + 5 s, so a crashed process's slots free up)
    and until one window after its response. ``pause()`` and ``observe()``
    reach every process through Redis. Every clock reading is Redis ``TIME``.
    Not shared yet: the slots ``SlidingWindowLimiter`` keeps free for a
    consumer seen only in the headers once it is seen again (``ForeignReserve``);
    here its phantoms free as they expire.

    ``release``, ``observe`` and ``pause`` are synchronous (the transport
    calls them that way): they queue their Redis update, and one task sends
    the queue in order; ``flush()`` waits for it, ``aclose()`` flushes and
    closes the pool. Waiters of one process are served in order; across
    processes, whoever asks first after a slot frees gets it.

    While Redis is unreachable, ``on_error="fallback"`` limits this process
    alone (one warning; Redis is retried every ``retry_interval`` seconds)
    and ``"raise"`` makes ``acquire`` raise ``RateLimiterUnavailableError``:
    ``Health`` keeps that state.

    Args:
        url: The Redis URL (``redis://``, ``rediss://`` or ``unix://``).
        limit: Requests allowed per window.
        window: The window, in seconds.
        key: The token's hash: the Redis keys are ``billabex:ratelimit:{key}:*``.
        lease: The longest a slot stays in flight, in seconds.
        on_error: ``"fallback"`` or ``"raise"`` while Redis is unreachable.
        retry_interval: Seconds between tries to reach Redis again.
        clock: Monotonic time, for pauses and the fallback.
        sleep: How to wait on that clock.
    """

    __slots__ = (
        "_clock",
        "_closed",
        "_health",
        "_in_flight",
        "_key",
        "_limit",
        "_lock",
        "_paused_until",
        "_sender",
        "_sleep",
        "_store",
        "window",
    )

    def __init__(
        self,
        url: str,
        limit: int,
        window: float,
        *,
        key: str,
        lease: float | None = None,
        on_error: OnError = "fallback",
        retry_interval: float = RETRY_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # Counts for this process while Redis is down; built first, it checks the bounds.
        fallback = SlidingWindowLimiter(limit, window, clock=clock, sleep=sleep)
        self._health = Health(
            url, fallback, on_error=on_error, retry_interval=retry_interval, clock=clock
        )
        self._limit = limit  # lowered when the server (or another process) says so
        self.window = window
        # Shorter than window + a request's life, and a slow request's slot
        # would expire while it is still in flight.
        default_lease = window + DEFAULT_REQUEST_TIMEOUT + LEASE_MARGIN
        lease = max(window + EDGE_MARGIN + 1.0, lease or default_lease)
        self._clock = clock
        self._sleep = sleep
        self._key = key
        self._store = TokenStore(url, key, configured=limit, window=window, lease=lease)
        # Slots this process holds in flight, oldest first: a Redis member id,
        # or None for a slot taken from the fallback. Slots are interchangeable,
        # so release() frees the oldest (its lease is the closest to running out).
        self._in_flight: deque[str | None] = deque()
        # Serves this process's waiters first come, first served.
        self._lock = asyncio.Lock()
        # Redis updates queued by the sync methods, sent in order; none is
        # sent while Redis is down (leases and key TTLs cover what is lost).
        health = self._health
        self._sender = OrderedSender(
            expected=STORAGE_ERRORS, failed=health.failed, skip=lambda: health.down
        )
        # Local mirror of a pause, so this process stops before Redis hears of it.
        self._paused_until = 0.0
        self._closed = False

    @property
    def limit(self) -> int:
        """Requests allowed per window (lowered if the server announces less)."""
        return self._limit

    @property
    def storage(self) -> str:
        """Where the window is kept, without credentials."""
        return self._health.storage

    def __repr__(self) -> str:
        # Local state only (a repr cannot ask Redis); the key is a hash prefix.
        paused = max(0.0, self._paused_until - self._clock())
        state = "closed" if self._closed else ("down" if self._health.down else "up")
        return (
            f"<RedisLimiter {self._limit}/{self.window:g}s {self.storage} "
            f"key={scripts.KEY_PREFIX}{{{self._key[:8]}…}} redis={state} "
            f"on_error={self._health.on_error} in_flight={len(self._in_flight)} "
            f"local_in_flight={self._in_flight.count(None)} queued_updates={len(self._sender)} "
            f"paused={paused:.2f}s>"
        )

    async def acquire(self) -> Ticket:
        """See ``Limiter.acquire``; in the window every process shares.

        Raises ``RateLimiterUnavailableError`` when Redis is unreachable and
        ``on_error="raise"``.
        """
        health = self._health
        async with self._lock:
            while True:
                if self._closed:
                    raise RuntimeError("this RedisLimiter is closed")
                pause = self._paused_until - self._clock()
                if pause > 0:
                    await self._sleep(min(pause, MAX_POLL))
                    continue
                if health.falls_back(self.ping):
                    local = await health.fallback.acquire()
                    self._in_flight.append(None)
                    return local
                try:
                    wait, ticket = await self._try_take()
                except STORAGE_ERRORS as exc:
                    health.failed(exc)
                    if health.on_error == "raise":
                        detail = "; request not sent (on_storage_error='raise')"
                        raise health.unavailable(exc, detail) from exc
                    continue
                health.recovered()
                if ticket is not None:
                    return ticket
                await self._sleep(min(wait, MAX_POLL))

    async def _try_take(self) -> tuple[float, Ticket | None]:
        """(0.0, the slot's ticket) when taken, else (seconds until one may free, None)."""
        store = self._store
        member = store.new_member()
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        try:
            reply = await store.acquire(member)
        except asyncio.CancelledError:
            # The script may have run: nothing was sent, so the slot goes back.
            self._submit(lambda: store.give_back(member))
            raise
        granted, limit = int(reply[0]), int(reply[1])
        if task is not None and task.cancelling() > cancels:
            # Python 3.11's asyncio.wait_for (inside redis-py) drops a cancel
            # that lands as the reply arrives; the task still records it.
            if granted:
                self._submit(lambda: store.give_back(member))
            raise asyncio.CancelledError
        if limit < self._limit:  # another process heard the server announce less
            self._health.fallback.observe(limit=limit, remaining=None, reset=None)
        self._limit = limit  # in force now: lowered limits lapse in Redis
        if granted:
            self._in_flight.append(member)
            return 0.0, Ticket(int(reply[2]), int(reply[3]), self)
        return int(reply[2]) / 1000, None

    def release(self) -> None:
        """See ``Limiter.release``; the oldest slot goes, its lease the closest to running out."""
        if not self._in_flight:
            logger.debug("release() without a slot in flight; ignored")
            return
        member = self._in_flight.popleft()
        if member is None:
            self._health.fallback.release()
            return
        self._submit(lambda: self._store.release(member))

    def observe(
        self,
        *,
        limit: int | None,
        remaining: int | None,
        reset: float | None,
        sent: Ticket | None = None,
    ) -> None:
        """See ``Limiter.observe``; the phantoms and a lower limit reach every process."""
        # A slot taken from the fallback has the fallback's ticket: it ignores ours.
        self._health.fallback.observe(limit=limit, remaining=remaining, reset=reset, sent=sent)
        ours = (sent.count, sent.added) if sent is not None and sent.issuer is self else None
        if limit is not None and 0 < limit < self._limit:
            self._limit = limit
        if limit is None and remaining is None:
            return

        async def send() -> None:
            added = await self._store.observe(
                limit=limit, remaining=remaining, reset=reset, sent=ours
            )
            if added:
                logger.debug("server counts %d requests Redis did not; holding them", added)

        self._submit(send)

    def pause(self, seconds: float) -> None:
        """See ``Limiter.pause``; every process stops."""
        seconds = max(0.0, seconds)
        self._health.fallback.pause(seconds)
        until = self._clock() + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.info("rate limited by the server: every process paused %.2fs", seconds)
        self._submit(lambda: self._store.pause(seconds))

    async def used(self) -> int:
        """Slots counted in Redis right now, by every process (one round trip).

        Raises ``RateLimiterUnavailableError`` when Redis does not answer.
        """
        try:
            return await self._store.used()
        except STORAGE_ERRORS as exc:
            raise self._health.unavailable(exc) from exc

    async def ping(self) -> bool:
        """Check Redis now; when it answers after an outage, go back to sharing the window.

        The slots this process counted on the fallback meanwhile are added to
        Redis first (finished ones for a window, in-flight ones for a lease),
        so nobody overshoots on the way back.
        """
        health = self._health
        try:
            await self._store.redis.ping()
            if health.down:
                in_flight = self._in_flight.count(None)
                finished = max(0, health.fallback.used() - in_flight)
                await self._store.hold(finished=finished, in_flight=in_flight)
        except STORAGE_ERRORS as exc:
            health.failed(exc)
            return False
        health.recovered()
        return True

    async def flush(self) -> None:
        """Wait until every queued release, observe and pause has reached Redis (or failed)."""
        await self._sender.flush()

    async def aclose(self) -> None:
        """Flush queued updates (bounded by FLUSH_TIMEOUT) and close the Redis pool."""
        if self._closed:
            return
        self._closed = True
        dropped = await self._sender.aclose(FLUSH_TIMEOUT)
        if dropped:
            logger.warning("%d rate-limit updates not sent to Redis before close", dropped)
        await self._health.aclose()
        await self._store.redis.aclose()

    def _submit(self, update: Callable[[], Awaitable[object]]) -> None:
        """Queue a Redis update (dropped once closed)."""
        if not self._closed:
            self._sender.submit(update)
