"""Base layer: the UNSET sentinel, the open enum base and the RateLimit setting.

Everything here is imported by the generated models and by the simulator, so
it depends on nothing but the standard library and attrs.
"""

from __future__ import annotations

import enum
from typing import Final, Literal

import attrs

__all__ = ["UNSET", "OpenStrEnum", "RateLimit", "Unset"]


class Unset(enum.Enum):
    """Type of :data:`UNSET`: "not given", as opposed to ``None`` ("clear it").

    An enum with one member is the idiom that lets type checkers narrow
    ``x is UNSET`` and lets ``Literal[Unset.token]`` stand for the type.
    """

    token = "UNSET"  # noqa: S105 - a sentinel, not a secret

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:
        return False


UNSET: Final = Unset.token
"""A field left at UNSET is not sent at all: PATCH leaves it unchanged."""


class OpenStrEnum(enum.StrEnum):
    """A string enum that keeps values it does not know instead of failing.

    The server may add an email status tomorrow; a list call must not break on
    it. An unknown value becomes a pseudo-member (not in ``list(cls)``) that
    compares equal to its string.
    """

    @classmethod
    def _missing_(cls, value: object) -> OpenStrEnum | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member


@attrs.frozen
class RateLimit:
    """At most ``requests`` requests in any sliding window of ``window`` seconds.

    Billabex allows 300 per 60 s per access token: ``RateLimit(300, 60.0)``.
    ``storage`` is ``"memory"`` (one process) or a ``redis://`` URL shared by
    every process using the same token (needs the ``redis`` extra).
    ``on_storage_error`` says what happens while that Redis is unreachable:
    ``"fallback"`` limits each process on its own (a warning is logged) and
    returns to Redis when it answers again; ``"raise"`` fails closed, every
    request raising ``RateLimiterUnavailableError``.
    """

    requests: int = attrs.field(default=300)
    window: float = attrs.field(default=60.0)
    storage: str = attrs.field(default="memory", kw_only=True)
    on_storage_error: Literal["fallback", "raise"] = attrs.field(
        default="fallback", kw_only=True, validator=attrs.validators.in_(("fallback", "raise"))
    )

    @requests.validator
    def _check_requests(self, _: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"RateLimit.requests must be >= 1, got {value}")

    @window.validator
    def _check_window(self, _: attrs.Attribute[float], value: float) -> None:
        if not value > 0:
            raise ValueError(f"RateLimit.window must be > 0 seconds, got {value}")

    @property
    def rate(self) -> float:
        """Sustained requests per second the limit allows."""
        return self.requests / self.window
