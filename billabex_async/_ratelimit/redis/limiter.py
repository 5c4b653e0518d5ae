"""Rate-limit layer: the sliding-window limiter shared through Redis by every process."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal
from urllib.parse import urlsplit

from billabex_async._ratelimit.memory import EDGE_MARGIN, SlidingWindowLimiter
from billabex_async._ratelimit.redis import scripts
from billabex_async._ratelimit.redis.ordered import OrderedSender
from billabex_async._types import SYSTEM_CLOCK, Clock, RateLimit, check_rate
from billabex_async.errors import InvalidRequestError, RateLimiterUnavailableError

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised by a test that hides redis
    raise ModuleNotFoundError(
        "RateLimit(storage='redis://...') needs redis-py: pip install 'billabex-async[redis]'",
        name="redis",
    ) from exc

__all__ = ["RedisLimiter"]

logger = logging.getLogger("billabex_async")

OnError = Literal["fallback", "raise"]

# A sender that dies mid-request never releases its slot; the slot still
# counts for the longest the request could have lived, then one window.
LEASE_MARGIN = 5.0  # seconds on top of window + request timeout
DEFAULT_REQUEST_TIMEOUT = 30.0
# Waiters re-ask Redis at least this often (seconds): another process may
# cancel a slot, and nothing tells us when it does.
MAX_POLL = 1.0
# Seconds between attempts to reach Redis again while on the local fallback.
RETRY_INTERVAL = 5.0
# The rate limiter is on every request's path: fail fast rather than hang.
SOCKET_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0
# How long close() waits for queued releases to reach Redis (seconds).
FLUSH_TIMEOUT = 2.0
# What can go wrong talking to Redis: its own errors and raw socket ones.
_STORAGE_ERRORS = (RedisError, OSError)


def _scrubbed(exc: BaseException, url: str) -> str:
    """``exc`` as text, without the URL's password should redis-py ever quote it."""
    text = f"{type(exc).__name__}: {exc}"
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def _redacted(url: str) -> str:
    """``url`` without credentials or options, for logs and reprs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class RedisLimiter:
    """At most ``limit`` requests per sliding ``window`` seconds, over every process.

    Usage (what the transport does; ``BillabexClient`` builds it from
    ``RateLimit(300, 60.0, storage="redis://host:6379/0")``)::

        limiter = RedisLimiter("redis://localhost:6379/0", 300, 60.0, key=token_hash)
        await limiter.acquire()      # waits while 300 slots are counted in Redis
        try:
            response = await send()
        finally:
            limiter.release()        # counts until now + window, in Redis
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
    and ``"raise"`` makes ``acquire`` raise ``RateLimiterUnavailableError``.
    """

    __slots__ = (
        "_added",
        "_clock",
        "_closed",
        "_down",
        "_fallback",
        "_floor",
        "_id",
        "_in_flight",
        "_key",
        "_keys",
        "_lease_ms",
        "_limit",
        "_lock",
        "_paused_until",
        "_probe",
        "_redis",
        "_retry_at",
        "_scripts",
        "_sender",
        "_seq",
        "_sleep",
        "_url",
        "configured_limit",
        "lease",
        "on_error",
        "retry_interval",
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
        check_rate(limit, window)
        if on_error not in ("fallback", "raise"):
            raise InvalidRequestError(
                f"on_error must be 'fallback' or 'raise', got {on_error!r}", field="on_error"
            )
        self.configured_limit = limit
        self._limit = limit  # lowered when the server (or another process) says so
        self.window = window
        # Shorter than window + a request's life, and a slow request's slot
        # would expire while it is still in flight.
        default_lease = window + DEFAULT_REQUEST_TIMEOUT + LEASE_MARGIN
        self.lease = max(window + EDGE_MARGIN + 1.0, lease or default_lease)
        self._lease_ms = self.lease * 1000
        self.on_error: OnError = on_error
        self.retry_interval = retry_interval
        self._clock = clock
        self._sleep = sleep
        self._url = url
        self._key = key
        self._keys = scripts.keys_for(key)
        self._floor = scripts.floor_key(key)
        self._added = scripts.added_key(key)
        # Credentials stay inside redis-py; URL options (socket_timeout=...) win.
        try:
            self._redis = aioredis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=CONNECT_TIMEOUT,
                retry=Retry(NoBackoff(), 1),  # one immediate retry: a pooled socket gone stale
            )
        except (ValueError, TypeError) as exc:  # an option redis-py cannot read
            raise InvalidRequestError(
                f"RateLimit.storage {_redacted(url)!r} is not usable: {_scrubbed(exc, url)}",
                field="storage",
            ) from None
        self._scripts = {
            name: self._redis.register_script(getattr(scripts, name))
            for name in ("ACQUIRE", "RELEASE", "OBSERVE", "PAUSE", "HOLD", "STATUS")
        }
        # Prefix of this instance's slot ids in the shared sorted set.
        self._id = uuid.uuid4().hex[:12]
        self._seq = 0
        # Slots this process holds in flight, oldest first: a Redis member id,
        # or None for a slot taken from the fallback. Slots are interchangeable,
        # so release() frees the oldest (its lease is the closest to running out).
        self._in_flight: deque[str | None] = deque()
        # Serves this process's waiters first come, first served.
        self._lock = asyncio.Lock()
        # Counts for this process while Redis is down. It also receives every
        # pause() and observe(), so it starts from the server's view.
        self._fallback = SlidingWindowLimiter(limit, window, clock=clock, sleep=sleep)
        # Redis updates queued by the sync methods, sent in order; none is
        # sent while Redis is down (leases and key TTLs cover what is lost).
        self._sender = OrderedSender(
            expected=_STORAGE_ERRORS, failed=self._failed, skip=lambda: self._down
        )
        self._probe: asyncio.Task[None] | None = None
        self._down = False  # the last Redis call failed
        self._retry_at = 0.0
        # Local mirror of a pause, so this process stops before Redis hears of it.
        self._paused_until = 0.0
        self._closed = False

    @classmethod
    def from_rate_limit(
        cls,
        rate_limit: RateLimit,
        *,
        key: str,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        clock: Clock | None = None,
    ) -> RedisLimiter:
        """The limiter for ``rate_limit.storage`` (a redis URL); ``key`` hashes the token.

        The window runs on Redis ``TIME``; ``clock`` only times pauses and the
        fallback window.
        """
        clock = clock or SYSTEM_CLOCK
        return cls(
            rate_limit.storage,
            rate_limit.requests,
            rate_limit.window,
            key=key,
            lease=rate_limit.window + request_timeout + LEASE_MARGIN,
            on_error=rate_limit.on_storage_error,
            clock=clock.time,
            sleep=clock.sleep,
        )

    @property
    def limit(self) -> int:
        """Requests allowed per window (lowered if the server announces less)."""
        return self._limit

    @property
    def storage(self) -> str:
        """Where the window is kept, without credentials."""
        return _redacted(self._url)

    def __repr__(self) -> str:
        # Local state only (a repr cannot ask Redis); the key is a hash prefix.
        paused = max(0.0, self._paused_until - self._clock())
        state = "closed" if self._closed else ("down" if self._down else "up")
        return (
            f"<RedisLimiter {self._limit}/{self.window:g}s {self.storage} "
            f"key={scripts.KEY_PREFIX}{{{self._key[:8]}…}} redis={state} "
            f"on_error={self.on_error} in_flight={len(self._in_flight)} "
            f"local_in_flight={self._in_flight.count(None)} queued_updates={len(self._sender)} "
            f"paused={paused:.2f}s>"
        )

    async def acquire(self) -> object:
        """Wait for a free slot in the shared window and take it; returns its ticket.

        Hand the ticket to ``observe`` with the request's answer. Raises
        ``RateLimiterUnavailableError`` when Redis is unreachable and
        ``on_error="raise"``.
        """
        async with self._lock:
            while True:
                if self._closed:
                    raise RuntimeError("this RedisLimiter is closed")
                pause = self._paused_until - self._clock()
                if pause > 0:
                    await self._sleep(min(pause, MAX_POLL))
                    continue
                if self._down and self.on_error == "fallback":
                    self._start_probe()
                    local = await self._fallback.acquire()
                    self._in_flight.append(None)
                    return local
                try:
                    wait, ticket = await self._try_take()
                except _STORAGE_ERRORS as exc:
                    self._failed(exc)
                    if self.on_error == "raise":
                        raise RateLimiterUnavailableError(
                            f"rate limiter storage {self.storage} is unreachable "
                            f"({_scrubbed(exc, self._url)}); request not sent "
                            "(on_storage_error='raise')"
                        ) from exc
                    continue
                self._recovered()
                if ticket is not None:
                    return ticket
                await self._sleep(min(wait, MAX_POLL))

    async def try_acquire(self) -> float:
        """Take a slot if one is free now: 0.0 when taken, else seconds until one may free.

        One Redis round trip, no fallback: raises ``RateLimiterUnavailableError``
        when Redis does not answer.
        """
        try:
            return (await self._try_take())[0]
        except _STORAGE_ERRORS as exc:
            raise RateLimiterUnavailableError(
                f"{self.storage}: {_scrubbed(exc, self._url)}"
            ) from exc

    async def _try_take(self) -> tuple[float, tuple[int, int] | None]:
        """(0.0, the slot's ticket) when taken, else (seconds until one may free, None)."""
        self._seq += 1
        member = f"{self._id}:{self._seq}"
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        try:
            reply = await self._scripts["ACQUIRE"](
                keys=[*self._keys, self._floor, self._added],
                args=[self.configured_limit, self._lease_ms, member, self.window * 1000],
            )
        except asyncio.CancelledError:
            # The script may have run: nothing was sent, so the slot goes back.
            self._submit(lambda: self._redis.zrem(self._keys[0], member))
            raise
        granted, limit = int(reply[0]), int(reply[1])
        if task is not None and task.cancelling() > cancels:
            # Python 3.11's asyncio.wait_for (inside redis-py) drops a cancel
            # that lands as the reply arrives; the task still records it.
            if granted:
                self._submit(lambda: self._redis.zrem(self._keys[0], member))
            raise asyncio.CancelledError
        if limit < self._limit:  # another process heard the server announce less
            self._fallback.observe(limit=limit, remaining=None, reset=None)
        self._limit = limit  # in force now: lowered limits lapse in Redis
        if granted:
            self._in_flight.append(member)
            return 0.0, (int(reply[2]), int(reply[3]))
        return int(reply[2]) / 1000, None

    def release(self) -> None:
        """The response to a slot's request arrived (or the send failed)."""
        if not self._in_flight:
            logger.debug("release() without a slot in flight; ignored")
            return
        member = self._in_flight.popleft()
        if member is None:
            self._fallback.release()
            return
        window_ms = (self.window + EDGE_MARGIN) * 1000
        self._submit(
            lambda: self._scripts["RELEASE"](keys=self._keys[:1], args=[member, window_ms])
        )

    def observe(
        self,
        *,
        limit: int | None,
        remaining: int | None,
        reset: float | None,
        sent: object = None,
    ) -> None:
        """Correct the shared count from X-RateLimit-* headers (``reset`` in unix seconds).

        The server counts ``limit - remaining`` (its own limit when sent);
        what Redis lacks, against its count when that request was sent
        (``sent``: the ticket ``acquire`` returned), is added as phantom
        slots: one until ``reset``, the rest for one window. A lower
        ``limit`` is shared with every process.
        """
        # A slot taken from the fallback has the fallback's ticket.
        local = sent if type(sent) is int else None
        self._fallback.observe(limit=limit, remaining=remaining, reset=reset, sent=local)
        shared = sent if isinstance(sent, tuple) else ("", "")
        if limit is not None and 0 < limit < self._limit:
            self._limit = limit
        if limit is None and remaining is None:
            return
        self._seq += 1
        args: list[str | float] = [
            self.configured_limit,
            "" if limit is None else limit,
            "" if remaining is None else remaining,
            "" if reset is None else reset * 1000,
            self.window * 1000,
            f"{self._id}:p{self._seq}:",
            EDGE_MARGIN * 1000,
            (self.window + EDGE_MARGIN) * 1000,
            *shared,
        ]

        async def send() -> None:
            reply = await self._scripts["OBSERVE"](
                keys=[self._keys[0], self._keys[2], self._floor, self._added], args=args
            )
            if int(reply[1]):
                logger.debug("server counts %d requests Redis did not; holding them", reply[1])

        self._submit(send)

    def pause(self, seconds: float) -> None:
        """Stop every sender of every process for ``seconds`` (the server answered 429)."""
        seconds = max(0.0, seconds)
        self._fallback.pause(seconds)
        until = self._clock() + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.info("rate limited by the server: every process paused %.2fs", seconds)
        self._submit(lambda: self._scripts["PAUSE"](keys=self._keys[1:2], args=[seconds * 1000]))

    async def used(self) -> int:
        """Slots counted in Redis right now, by every process (one round trip).

        Raises ``RateLimiterUnavailableError`` when Redis does not answer.
        """
        try:
            reply = await self._scripts["STATUS"](
                keys=[*self._keys, self._floor], args=[self.configured_limit]
            )
        except _STORAGE_ERRORS as exc:
            raise RateLimiterUnavailableError(
                f"{self.storage}: {_scrubbed(exc, self._url)}"
            ) from exc
        return int(reply[0])

    async def ping(self) -> bool:
        """Check Redis now; when it answers after an outage, go back to sharing the window.

        The slots this process counted on the fallback meanwhile are added to
        Redis first (finished ones for a window, in-flight ones for a lease),
        so nobody overshoots on the way back.
        """
        try:
            await self._redis.ping()
            if self._down:
                in_flight = self._in_flight.count(None)
                finished = max(0, self._fallback.used() - in_flight)
                self._seq += 1
                await self._scripts["HOLD"](
                    keys=[self._keys[0], self._added],
                    args=[
                        finished,
                        (self.window + EDGE_MARGIN) * 1000,
                        in_flight,
                        self._lease_ms,
                        f"{self._id}:h{self._seq}:",
                    ],
                )
        except _STORAGE_ERRORS as exc:
            self._failed(exc)
            return False
        self._recovered()
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
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        await self._redis.aclose()

    def _submit(self, update: Callable[[], Awaitable[object]]) -> None:
        if not self._closed:
            self._sender.submit(update)

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = self._clock() + self.retry_interval
        if self._down:
            return
        self._down = True  # warn once per outage
        consequence = (
            "each process now limits itself alone until it answers"
            if self.on_error == "fallback"
            else "requests fail with RateLimiterUnavailableError until it answers"
        )
        logger.warning(
            "rate limiter storage %s unreachable (%s); %s",
            self.storage, _scrubbed(exc, self._url), consequence,
        )  # fmt: skip

    def _recovered(self) -> None:
        if self._down:
            self._down = False
            logger.info("rate limiter storage %s reachable again: window shared", self.storage)

    def _start_probe(self) -> None:
        """Try Redis again in the background, at most every ``retry_interval`` seconds."""
        if self._probe is not None or self._clock() < self._retry_at:
            return

        async def probe() -> None:
            try:
                await self.ping()
            finally:
                self._probe = None

        self._probe = asyncio.get_running_loop().create_task(probe())
