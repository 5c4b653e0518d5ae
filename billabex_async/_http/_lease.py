"""Transport layer: the one place the limiter is touched, one lease per attempt.

A ``Lease`` is an attempt's hold on a limiter slot: taken before the send
(so waiting for a slot never eats into the request timeout), handed back
exactly once, with the server's X-RateLimit-* headers when an answer came.
aiohttp silently resends an idempotent request once when a kept-alive
connection drops, inside its own loop; the ``count_sends`` middleware runs
inside that loop and tells the lease, so the resend takes a slot of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar

import aiohttp

from billabex_async._http._headers import observe_headers
from billabex_async._ratelimit import Limiter, Ticket

__all__ = ["Lease", "close_limiter", "count_sends", "pause"]

logger = logging.getLogger("billabex_async")


def _never() -> bool:
    return False


class Lease:
    """One attempt's limiter slot, and how many physical sends the attempt made.

    ``waited`` is the seconds spent waiting for the slot. Without a limiter
    every method is a no-op, so the transport never asks whether there is one.
    ``with lease:`` makes it the one the ``count_sends`` middleware counts, in
    this task; ``closed`` says whether the sending client was closed
    meanwhile: then a dropped connection is not resent.
    """

    __slots__ = ("_held", "_limiter", "_ticket", "_token", "closed", "sends", "waited")

    def __init__(
        self,
        limiter: Limiter | None,
        ticket: Ticket | None,
        waited: float,
        closed: Callable[[], bool] = _never,
    ) -> None:
        self.closed = closed
        self._limiter = limiter
        self._ticket = ticket  # the limiter's receipt for this slot, handed to observe()
        # True while the slot still has to be handed back: the middleware (on a
        # resend) and the transport (on the answer, or in a finally) both may,
        # and it must happen exactly once.
        self._held = limiter is not None
        self.sends = 0
        self.waited = waited

    @classmethod
    def unlimited(cls, closed: Callable[[], bool] = _never) -> Lease:
        """The lease of an attempt with no limiter: nothing to wait for, nothing to hand back."""
        return cls(None, None, 0.0, closed)

    @classmethod
    async def take(cls, limiter: Limiter | None, closed: Callable[[], bool] = _never) -> Lease:
        """Wait for a slot (at once without a limiter)."""
        if limiter is None:
            return cls(None, None, 0.0, closed)
        start = time.monotonic()
        ticket = await limiter.acquire()
        return cls(limiter, ticket, time.monotonic() - start, closed)

    # A class of its own would cost an object and two calls more per attempt.
    def __enter__(self) -> None:
        self._token = _CURRENT.set(self)

    def __exit__(self, *exc_info: object) -> None:
        _CURRENT.reset(self._token)

    @property
    def resent(self) -> bool:
        """aiohttp sent this attempt more than once: the first send may have been applied."""
        return self.sends > 1

    async def resend(self) -> None:
        """The first send keeps its slot (finished now); the resend waits for a new one."""
        if self._limiter is None:
            return
        self._held = False
        self._limiter.release()
        # The answer that comes is the resend's: observe() compares with its ticket.
        self._ticket = await self._limiter.acquire()
        self._held = True

    def answered(self, headers: Mapping[str, str]) -> None:
        """Hand the slot back with what the response's rate-limit headers say."""
        if self._limiter is None or not self._held:
            return
        self._held = False
        self._limiter.release()
        observe_headers(self._limiter, headers, sent=self._ticket)

    def lost(self) -> None:
        """Hand the slot back after no answer (it may still have arrived); idempotent."""
        if self._limiter is None or not self._held:
            return
        self._held = False
        self._limiter.release()


def pause(limiter: Limiter | None, seconds: float) -> bool:
    """Hold every request of this limiter for ``seconds`` (a 429); False without one."""
    if limiter is None:
        return False
    limiter.pause(seconds)
    return True


async def close_limiter(limiter: Limiter | None) -> None:
    """Flush and close a limiter with connections of its own (Redis)."""
    aclose = getattr(limiter, "aclose", None)
    if aclose is not None:
        await aclose()


# The attempt the current task is sending: one middleware per session reads
# it, instead of a new closure per request (aiohttp runs the middleware in the
# task that called ``session.request``). On a session shared by many clients
# it is also how the middleware knows which client sent the request.
_CURRENT: ContextVar[Lease | None] = ContextVar("billabex_async_lease", default=None)


def count_sends(closed: Callable[[], bool] = _never) -> aiohttp.ClientMiddlewareType:
    """A client middleware that sees every physical send of the current task's lease.

    Installed on the session the transport opens, and on a ``SharedSession``'s.
    Once ``closed()`` (the session's owner was closed) or the sending client
    is, nothing is resent.
    """

    # A plain function returning the send's awaitable: the first send (the
    # common case) adds no coroutine frame of its own to every request.
    def middleware(
        req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> Awaitable[aiohttp.ClientResponse]:
        lease = _CURRENT.get()
        if lease is None:  # not sent by the transport: nothing to count
            return handler(req)
        lease.sends += 1
        if lease.sends > 1:
            return _resend(req, handler, lease, closed)
        return handler(req)

    return middleware


async def _resend(
    req: aiohttp.ClientRequest,
    handler: aiohttp.ClientHandlerType,
    lease: Lease,
    closed: Callable[[], bool],
) -> aiohttp.ClientResponse:
    """aiohttp's second send of ``lease``'s attempt: a slot of its own, unless closed."""
    if closed() or lease.closed():
        raise aiohttp.ClientConnectionError("the client was closed: not resent")
    logger.debug("%s %s: aiohttp resends after a dropped connection", req.method, req.url.path)
    await lease.resend()
    return await handler(req)
