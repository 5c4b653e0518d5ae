"""Rate-limit layer: whether Redis answers, and the in-memory fallback while it does not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal
from urllib.parse import urlsplit

from billabex_async._ratelimit.memory import SlidingWindowLimiter
from billabex_async.errors import RateLimiterUnavailableError

__all__ = ["RETRY_INTERVAL", "Health", "OnError", "redacted", "scrubbed"]

logger = logging.getLogger("billabex_async")

OnError = Literal["fallback", "raise"]

# Seconds between attempts to reach Redis again while on the local fallback.
RETRY_INTERVAL = 5.0


def scrubbed(exc: BaseException, url: str) -> str:
    """``exc`` as text, without the URL's password should redis-py ever quote it."""
    text = f"{type(exc).__name__}: {exc}"
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def redacted(url: str) -> str:
    """``url`` without credentials or options, for logs and reprs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class Health:
    """The state of one limiter's Redis: up, or down since a call failed.

    Usage (what ``RedisLimiter`` does)::

        health = Health(url, fallback, on_error="fallback", clock=time.monotonic)
        if health.falls_back(ping):          # down: this process counts alone
            return await health.fallback.acquire()
        try:
            ...                              # a Redis call
        except RedisError as exc:
            health.failed(exc)               # one warning per outage
        health.recovered()

    While down, ``on_error="fallback"`` limits this process alone on
    ``fallback`` (which also hears every pause and header correction, so it
    starts from the server's view) and tries Redis again in the background
    at most every ``retry_interval`` seconds; ``"raise"`` makes every
    acquire fail with ``unavailable(exc)``, asking Redis again each time.
    """

    __slots__ = (
        "_clock",
        "_probe",
        "_retry_at",
        "_url",
        "down",
        "fallback",
        "on_error",
        "retry_interval",
    )

    def __init__(
        self,
        url: str,
        fallback: SlidingWindowLimiter,
        *,
        on_error: OnError,
        retry_interval: float = RETRY_INTERVAL,
        clock: Callable[[], float],
    ) -> None:
        self._url = url
        self._clock = clock
        self.fallback = fallback
        self.on_error: OnError = on_error
        self.retry_interval = retry_interval
        self.down = False  # the last Redis call failed
        self._retry_at = 0.0  # no probe before this clock time
        # The background ping while on the fallback, if one runs.
        self._probe: asyncio.Task[None] | None = None

    @property
    def storage(self) -> str:
        """Where the window is kept, without credentials."""
        return redacted(self._url)

    def falls_back(self, ping: Callable[[], Awaitable[object]]) -> bool:
        """Whether to count on ``fallback`` now (down, and told to); starts a ``ping`` if due."""
        if not self.down or self.on_error != "fallback":
            return False
        if self._probe is None and self._clock() >= self._retry_at:
            self._probe = asyncio.get_running_loop().create_task(self._run_probe(ping))
        return True

    def failed(self, exc: BaseException) -> None:
        """A Redis call failed: down until one answers; warns once per outage."""
        self._retry_at = self._clock() + self.retry_interval
        if self.down:
            return
        self.down = True
        consequence = (
            "each process now limits itself alone until it answers"
            if self.on_error == "fallback"
            else "requests fail with RateLimiterUnavailableError until it answers"
        )
        logger.warning(
            "rate limiter storage %s unreachable (%s); %s",
            self.storage, scrubbed(exc, self._url), consequence,
        )  # fmt: skip

    def recovered(self) -> None:
        """A Redis call answered: the window is shared again."""
        if self.down:
            self.down = False
            logger.info("rate limiter storage %s reachable again: window shared", self.storage)

    def unavailable(self, exc: BaseException, detail: str = "") -> RateLimiterUnavailableError:
        """The error for a call Redis did not answer, naming it without credentials."""
        reason = scrubbed(exc, self._url)
        return RateLimiterUnavailableError(
            f"rate limiter storage {self.storage} is unreachable ({reason}){detail}"
        )

    async def aclose(self) -> None:
        """Stop the background ping, if one runs."""
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)

    async def _run_probe(self, ping: Callable[[], Awaitable[object]]) -> None:
        try:
            await ping()
        finally:
            self._probe = None
