"""Rate-limit layer: the Limiter protocol the transport calls, and the Ticket it hands back."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Limiter", "Ticket"]


class Ticket:
    """One granted slot, as ``acquire()`` returns it, for ``observe(..., sent=ticket)``.

    ``count`` is the issuer's count of slots when the slot was taken (the
    slot included) and ``added`` how many slots it had ever added by then
    (taken or phantom): ``count + added_now - added`` is the most the server
    can have counted of the issuer's slots when that request arrived, what
    the headers of its answer are compared with. A ticket means something
    only to its ``issuer``; any other limiter compares as of now.

    Args:
        count: The issuer's count of slots as the slot was taken.
        added: Slots the issuer had ever added by then.
        issuer: The limiter that granted it.
    """

    __slots__ = ("added", "count", "issuer")

    def __init__(self, count: int, added: int, issuer: object) -> None:
        self.count = count
        self.added = added
        self.issuer = issuer

    def __repr__(self) -> str:
        return f"<Ticket count={self.count} added={self.added}>"

    def ours(self, issuer: object, added_now: int) -> int | None:
        """The most ``issuer`` can have had counted at this request's arrival (None: not its).

        ``added_now`` is how many slots the issuer has ever added, now.
        """
        if self.issuer is not issuer:
            return None
        return self.count + added_now - self.added


class Limiter(Protocol):
    """What the transport needs from a rate limiter (in-process or shared), and the engine reads.

    The transport takes a slot before each send (``acquire``), hands it back
    when the answer arrives or the send fails (``release``), reads the
    answer's X-RateLimit-* headers into ``observe`` and a 429's Retry-After
    into ``pause``. Implementations: ``SlidingWindowLimiter`` (one process)
    and ``RedisLimiter`` (every process on a token).
    """

    @property
    def limit(self) -> int:
        """Requests allowed per window now (lowered while the server announces less)."""
        ...

    @property
    def window(self) -> float:
        """The window of ``limit``, in seconds."""
        ...

    async def acquire(self) -> Ticket:
        """Wait for a free slot and take it; the slot is in flight from now.

        Waiters are served first come, first served. The slot counts while
        its request is in flight and until one window after ``release``.
        Returns the slot's ticket, to hand to ``observe`` with that request's
        answer. Cancelled while waiting, no slot is taken.
        """
        ...

    def release(self) -> None:
        """The response to a slot's request arrived (or the send failed).

        The oldest slot in flight stops being in flight and counts for one
        window more; without a slot in flight, nothing happens.
        """

    def observe(
        self,
        *,
        limit: int | None,
        remaining: int | None,
        reset: float | None,
        sent: Ticket | None = None,
    ) -> None:
        """Correct from the server's X-RateLimit-* headers (``reset`` in unix seconds).

        The server counts ``limit - remaining`` requests on the token; what
        it counts beyond our slots is someone else's, held as phantom slots
        (one until ``reset``, the rest for one window). Ours are compared as
        they stood when the answered request was sent, plus every slot added
        since: ``sent`` is the ticket ``acquire`` returned for it. Without it
        (None, or another limiter's ticket) ours are compared as of now,
        which can hold slots in vain: ours that expired during the flight
        are taken for someone else's. A lower ``limit`` applies for one
        window after the last answer that announced it.

        Args:
            limit: ``X-RateLimit-Limit``, or None when absent.
            remaining: ``X-RateLimit-Remaining``, or None when absent.
            reset: ``X-RateLimit-Reset`` in unix seconds, or None when absent.
            sent: The ticket ``acquire`` returned for the answered request.
        """

    def pause(self, seconds: float) -> None:
        """Stop every sender for ``seconds`` (the server answered 429); never shortens a pause."""
