"""Rate-limit layer: the sliding-window rate limiter every request goes through."""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from billabex_async._ratelimit.protocol import Ticket
from billabex_async._ratelimit.window import Window

__all__ = ["SlidingWindowLimiter"]

logger = logging.getLogger("billabex_async")


class _Waiter:
    """One ``acquire()`` in the queue; ``ticket`` is set (under the lock) with its slot."""

    __slots__ = ("future", "loop", "ticket")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.ticket: Ticket | None = None  # set when granted


class _Timer:
    """The wake-up of one event loop that has waiters.

    ``at`` (when it fires) is guarded by the lock; ``task`` is only touched
    from that loop.
    """

    __slots__ = ("at", "task", "waiters")

    def __init__(self) -> None:
        self.at = float("inf")
        self.task: asyncio.Task[None] | None = None
        self.waiters = 0


class SlidingWindowLimiter:
    """At most ``limit`` requests in any sliding window of ``window`` seconds.

    Usage::

        limiter = SlidingWindowLimiter(300, 60.0)
        ticket = await limiter.acquire()  # waits while 300 slots are counted
        try:
            response = await send()
        finally:
            limiter.release()             # counts until now + window
        limiter.observe(limit=..., remaining=..., reset=..., sent=ticket)

    Waiters are served first come, first served, across every event loop
    and thread that uses the limiter. ``pause()`` holds everyone (a 429's
    Retry-After); ``observe()`` adds the requests the server counted but we
    did not (another process spending the same token), comparing with our
    count as it stood when that request was sent (the ticket), and applies a
    lower limit the server announces, for one window after it last said so.
    ``add_limit()`` makes another client's limit hold too. ``clock`` and
    ``sleep`` are injectable so tests run on virtual time.

    One limiter per access token in a process, whatever event loop or thread
    its clients run in: the server counts per token, so the window is shared.
    Its counts (``Window``) sit behind a ``threading.Lock``; asyncio objects are
    only touched from their own loop (``call_soon_threadsafe`` crosses over).

    Args:
        limit: Requests allowed per window.
        window: The window, in seconds.
        clock: Monotonic time, in seconds.
        sleep: How to wait on that clock.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_forgotten",
        "_lock",
        "_sleep",
        "_timers",
        "_waiters",
        "_window",
    )

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        # Guards _window, _waiters, _timers and each _Timer.at: any thread may call in.
        self._lock = threading.Lock()
        self._window = Window(limit, window)
        # Callers waiting for a slot, oldest first, from any loop; each is
        # granted its slot under the lock, then resolved on its own loop.
        self._waiters: collections.deque[_Waiter] = collections.deque()
        # The loops that have waiters, each with the one task that sleeps
        # until the next expiry or the pause's end.
        self._timers: dict[asyncio.AbstractEventLoop, _Timer] = {}
        # Limit handles whose client was garbage-collected. A finalizer may
        # run while this thread holds the lock, so it only appends here.
        self._forgotten: collections.deque[int] = collections.deque()

    @property
    def limit(self) -> int:
        """Requests allowed per window now: the smallest limit set, capped by the server's."""
        with self._lock:
            self._drop_forgotten()
            return self._window.primary(self._clock())[0]

    @property
    def window(self) -> float:
        """The window, in seconds, of the limit ``limit`` reports."""
        with self._lock:
            self._drop_forgotten()
            return self._window.primary(self._clock())[1]

    def __repr__(self) -> str:
        with self._lock:
            now = self._clock()
            limit, window = self._window.primary(now)
            counted = self._window.counted(now, window)
            in_flight, waiting = self._window.in_flight, len(self._waiters)
            paused = max(0.0, self._window.paused_until - now)
        return (
            f"<SlidingWindowLimiter {limit}/{window:g}s in_flight={in_flight} "
            f"counted={counted} waiting={waiting} paused={paused:.2f}s>"
        )

    def used(self) -> int:
        """Slots counted right now (in the window of ``limit``): in flight plus finished."""
        with self._lock:
            now = self._clock()
            return self._window.counted(now, self._window.primary(now)[1])

    def add_limit(self, limit: int, window: float) -> int:
        """Also hold at most ``limit`` requests per ``window`` seconds; returns a handle.

        Clients sharing this limiter each add theirs, so the strictest holds.
        """
        with self._lock:
            return self._window.add_limit(limit, window)

    def forget_limit(self, handle: int) -> None:
        """Drop the limit ``add_limit`` returned as ``handle`` (safe in a finalizer, any thread)."""
        self._forgotten.append(handle)

    async def acquire(self) -> Ticket:
        """See ``Limiter.acquire``; waiters of every loop and thread share one queue."""
        with self._lock:
            self._drop_forgotten()
            if not self._waiters:
                ticket = self._take(self._clock())
                if ticket is not None:
                    return ticket
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop)
            self._waiters.append(waiter)
            self._timers.setdefault(loop, _Timer()).waiters += 1
        self._wake()
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter.ticket is None:
                    self._waiters.remove(waiter)
                    self._left(loop)
                    handed_back = False
                else:
                    # Granted as the cancel landed; if the result was set
                    # the slot is ours to hand back, else _deliver does it.
                    handed_back = waiter.future.done() and not waiter.future.cancelled()
                    if handed_back:
                        self._window.cancel()
            if handed_back:
                self._wake()
            raise
        assert waiter.ticket is not None  # resolved only once granted
        return waiter.ticket

    def release(self) -> None:
        """See ``Limiter.release``."""
        with self._lock:
            self._window.finish(self._clock())
        self._wake()

    def observe(
        self,
        *,
        limit: int | None,
        remaining: int | None,
        reset: float | None,
        sent: Ticket | None = None,
    ) -> None:
        """See ``Limiter.observe``."""
        reset_in = None if reset is None else reset - time.time()
        # Another limiter's ticket (or none) means nothing here: compare as of now.
        ticket = sent if sent is not None and sent.issuer is self else None
        with self._lock:
            self._window.observe(
                self._clock(), limit=limit, remaining=remaining, reset_in=reset_in, sent=ticket
            )

    def pause(self, seconds: float) -> None:
        """See ``Limiter.pause``."""
        with self._lock:
            paused = self._window.pause(self._clock(), seconds)
        if paused:
            logger.info("rate limited by the server: every sender paused %.2fs", seconds)

    def _take(self, now: float) -> Ticket | None:
        """A slot, if every limit allows one now (under the lock)."""
        count = self._window.try_take(now)
        return None if count is None else Ticket(count, self._window.added, self)

    def _drop_forgotten(self) -> None:
        while self._forgotten:
            self._window.remove_limit(self._forgotten.popleft())

    def _left(self, loop: asyncio.AbstractEventLoop) -> None:
        """A waiter of ``loop`` left the queue (under the lock)."""
        timer = self._timers[loop]
        timer.waiters -= 1
        if not timer.waiters:
            # Its task, if any, still fires once, harmlessly.
            del self._timers[loop]

    def _wake(self) -> None:
        """Grant slots to waiters in order, then arm the timers for the rest."""
        if not self._waiters and not self._forgotten:
            # Nobody to serve (read without the lock: a waiter that queues
            # meanwhile calls _wake itself once queued).
            return
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a finalizer or a thread without a loop
            here = None
        granted: list[_Waiter] = []
        arm: list[tuple[asyncio.AbstractEventLoop, _Timer]] = []
        with self._lock:
            self._drop_forgotten()
            now = self._clock()
            waiters = self._waiters
            while waiters:
                ticket = self._take(now)
                if ticket is None:
                    break
                waiter = waiters.popleft()
                waiter.ticket = ticket
                self._left(waiter.loop)
                granted.append(waiter)
            # Blocked: by a pause, by finished slots still in a window, or
            # only by in-flight requests (then a release will wake us).
            at = self._window.next_change(now) if waiters else None
            if at is not None:
                for loop, timer in self._timers.items():
                    if at < timer.at:
                        timer.at = at
                        arm.append((loop, timer))
        lost = False
        for waiter in granted:
            if not self._call_in(waiter.loop, here, functools.partial(self._deliver, waiter)):
                with self._lock:  # its loop is closed: nobody waits there any more
                    self._window.cancel()
                lost = True
        for loop, timer in arm:
            self._call_in(loop, here, functools.partial(self._arm, timer))
        if lost:
            self._wake()

    @staticmethod
    def _call_in(
        loop: asyncio.AbstractEventLoop,
        here: asyncio.AbstractEventLoop | None,
        callback: Callable[[], None],
    ) -> bool:
        """Run ``callback`` on ``loop`` (now if it is this thread's); False if it is closed."""
        if loop is here:
            callback()
            return True
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:
            return False
        return True

    def _deliver(self, waiter: _Waiter) -> None:
        """On the waiter's loop: hand it its slot, or back if it was cancelled meanwhile."""
        if waiter.future.cancelled():
            with self._lock:
                self._window.cancel()
            self._wake()
        else:
            waiter.future.set_result(None)

    def _arm(self, timer: _Timer) -> None:
        """On the timer's loop: (re)start its task for the time ``timer.at`` now holds."""
        with self._lock:
            at = timer.at
        if timer.task is not None:
            timer.task.cancel()
        timer.task = asyncio.get_running_loop().create_task(self._sleep_until(timer, at))

    async def _sleep_until(self, timer: _Timer, at: float) -> None:
        await self._sleep(max(0.0, at - self._clock()))
        with self._lock:
            if timer.at == at:
                timer.at = float("inf")
        timer.task = None
        self._wake()
