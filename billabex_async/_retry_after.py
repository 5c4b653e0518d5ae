"""Base layer: parsing the Retry-After header (delta-seconds or HTTP date)."""

from __future__ import annotations

import email.utils
import math
import time

from billabex_async._lazy import lazy_pattern

__all__ = ["RETRY_AFTER_CEILING", "parse_retry_after"]

RETRY_AFTER_CEILING = 86_400.0  # seconds; callers cap far lower, this only keeps numbers sane

# RFC 9110 delta-seconds is ASCII digits; a fraction is tolerated. Python's
# float() would also take "inf", "nan", "1e999" and non-ASCII digits.
_DELTA = lazy_pattern(globals(), "_DELTA", r"-?[0-9]{1,30}(?:\.[0-9]{1,30})?")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value, or None when absent or unreadable.

    Billabex sends delta-seconds; an HTTP date is accepted too. The result is
    finite, never negative (a negative delay means now), and at most
    ``RETRY_AFTER_CEILING``; ``inf``, ``nan``, ``1e999`` are unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELTA.fullmatch(value):
        return min(max(0.0, float(value)), RETRY_AFTER_CEILING)
    try:
        when = email.utils.parsedate_to_datetime(value)
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_CEILING)
