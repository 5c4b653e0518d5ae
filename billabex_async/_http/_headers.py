"""Transport layer: reading the X-RateLimit-* headers, ignoring values that make no sense."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from billabex_async._ratelimit import Limiter, Ticket

__all__ = ["MAX_COUNT", "MAX_RESET", "count_header", "observe_headers", "reset_header"]

logger = logging.getLogger("billabex_async")

MAX_COUNT = 1_000_000  # requests; a limit or remaining above this is not a real window
MAX_RESET = 1e11  # unix seconds (year 5138): anything later is garbage, not a time

# ASCII only: str.isdigit() and int() also accept "²" or "١", and float()
# accepts "inf", "nan" and "1e999".
_COUNT = re.compile(r"[0-9]{1,12}")
_TIME = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")


def count_header(headers: Mapping[str, str], name: str) -> int | None:
    """A request count header (limit, remaining) as an int in [0, MAX_COUNT], or None.

    A missing header is None; an unreadable or absurd one is None too, logged at DEBUG.
    """
    raw = headers.get(name)
    if raw is None:
        return None
    value = raw.strip()
    if _COUNT.fullmatch(value) and int(value) <= MAX_COUNT:
        return int(value)
    logger.debug("ignoring %s: %r is not a request count", name, raw[:40])
    return None


def reset_header(headers: Mapping[str, str], name: str = "X-RateLimit-Reset") -> float | None:
    """The window's reset time in unix seconds, or None when absent or unreadable (DEBUG)."""
    raw = headers.get(name)
    if raw is None:
        return None
    value = raw.strip()
    if _TIME.fullmatch(value) and float(value) <= MAX_RESET:
        return float(value)
    logger.debug("ignoring %s: %r is not a unix time", name, raw[:40])
    return None


def observe_headers(
    limiter: Limiter, headers: Mapping[str, str], sent: Ticket | None = None
) -> None:
    """Hand the limiter what the X-RateLimit-* headers say, the unreadable parts as None.

    ``sent`` is the ticket the limiter's ``acquire`` gave the request answered.
    """
    limiter.observe(
        limit=count_header(headers, "X-RateLimit-Limit"),
        remaining=count_header(headers, "X-RateLimit-Remaining"),
        reset=reset_header(headers),
        sent=sent,
    )
