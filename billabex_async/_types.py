"""Base layer: the UNSET sentinel, the open enum base and the RateLimit setting.

Everything here is imported by the generated models and by the simulator, so
it depends on nothing but the standard library, attrs and the exception tree.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import math
import operator
import time
import uuid
from collections.abc import Callable
from typing import Final, Literal, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import attrs

from billabex_async._lazy import lazy_pattern
from billabex_async.errors import InvalidRequestError

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "SYSTEM_CLOCK",
    "UNSET",
    "Clock",
    "OpenStrEnum",
    "ProgressCallback",
    "RateLimit",
    "Unset",
    "canonical_uuid",
    "check_rate",
    "is_loopback_host",
    "redact_url",
]

STORAGE_SCHEMES = ("redis", "rediss", "unix")
# Query options whose value is a credential (redis-py passes unknown ones on).
_SECRET_OPTIONS = ("pass", "secret", "token", "auth")


class Clock(Protocol):
    """Where the client and the simulator read the time and wait.

    ``time()`` is monotonic seconds; ``sleep(seconds)`` waits that long on
    the same clock. The default is the system's; a virtual clock (such as
    ``billabex_async.testing.VirtualClock``) shared by a client and a
    ``FakeBillabex`` makes rate windows and backoff pass in no wall time.
    """

    def time(self) -> float:
        """Now, in monotonic seconds (any origin; only differences count)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock (return at once for 0 or less)."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    __slots__ = ()

    def time(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SYSTEM_CLOCK"


SYSTEM_CLOCK: Final = SystemClock()


ProgressCallback = Callable[[int, int | None], None]
"""``on_progress(done, total)``: items settled so far, and the total when known (else None)."""

DEFAULT_PAGE_SIZE: Final = 100
"""Contacts per page when none is asked for: the API's default, the client's and the simulator's."""


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost`` or a loopback address (IPv6 in brackets too).

    The one loopback rule: plain http is allowed only to such a host, by the
    client, the OAuth code and the simulator alike.
    """
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# The form every id is sent and compared in; a match skips building a UUID.
_CANONICAL_UUID = lazy_pattern(
    globals(), "_CANONICAL_UUID", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def canonical_uuid(value: object) -> str | None:
    """The canonical lower-case string of a UUID (a ``UUID`` or any accepted text), else None.

    The one place ids are canonicalised: the client, the engine, the CLI and
    the simulator all compare and send ids in this form.
    """
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


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


def redact_url(url: str, *, hide_user: bool = False) -> str:
    """``url`` with the password of its userinfo and of credential options shown as ``***``.

    For reprs, logs and messages; anything that does not parse as a URL is
    returned as ``***`` (it may be a secret pasted in the wrong place).
    ``hide_user`` hides the whole userinfo, for URLs that should carry none.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        secret_options = any(
            any(s in k.lower() for s in _SECRET_OPTIONS) for k, _ in parse_qsl(parts.query)
        )
        has_userinfo = "@" in netloc
        if parts.password is None and not secret_options and not (hide_user and has_userinfo):
            return url
        if hide_user and has_userinfo:
            netloc = f"***@{netloc.rpartition('@')[2]}"
        elif parts.password is not None:
            user = quote(parts.username or "", safe="")
            host = netloc.rpartition("@")[2]
            netloc = f"{user}:***@{host}"
        query = parts.query
        if query:
            options = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, "***" if any(s in k.lower() for s in _SECRET_OPTIONS) else v)
                 for k, v in options],
                safe="*",
            )  # fmt: skip
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "***"


def check_rate(requests: object, window: object) -> None:
    """Raise ``InvalidRequestError`` unless ``requests`` is an int >= 1 and
    ``window`` a finite number of seconds > 0: the one check of every limiter's bounds."""
    try:
        count = operator.index(requests)  # type: ignore[arg-type]
    except TypeError:
        count = 0
    if isinstance(requests, bool) or count < 1:
        raise InvalidRequestError(
            f"RateLimit.requests must be an int >= 1, got {requests!r}", field="requests"
        )
    if (
        isinstance(window, bool)
        or not isinstance(window, int | float)
        or not math.isfinite(window)
        or window <= 0
    ):
        raise InvalidRequestError(
            f"RateLimit.window must be a finite number of seconds > 0, got {window!r}",
            field="window",
        )


def _check_storage(storage: object) -> None:
    if storage == "memory":
        return
    shown = redact_url(storage) if isinstance(storage, str) else type(storage).__name__
    problem = None
    try:
        parts = urlsplit(storage) if isinstance(storage, str) else None
        _ = parts.port if parts is not None else None  # a port that is no number raises
    except ValueError:
        parts, problem = None, "it does not parse as a URL"
    if parts is None or parts.scheme not in STORAGE_SCHEMES:
        problem = problem or "use 'memory' or a redis://, rediss:// or unix:// URL"
    elif parts.scheme == "unix":
        if not parts.path:
            problem = "a unix:// URL needs the socket's path"
    elif not parts.hostname:
        problem = "a redis URL needs a host"
    elif parts.path.strip("/") and not parts.path.strip("/").isdigit():
        problem = "the database (the URL's path) must be a number"
    if problem is not None:
        raise InvalidRequestError(
            f"RateLimit.storage {shown!r} is not usable: {problem}", field="storage"
        )


def _validate(instance: RateLimit, attribute: attrs.Attribute[float], _: float) -> None:
    if attribute.name == "window":  # the last of the two bounds: both are set now
        check_rate(instance.requests, instance.window)


def _check_on_error(_: object, __: attrs.Attribute[str], value: object) -> None:
    if value not in ("fallback", "raise"):
        raise InvalidRequestError(
            f"RateLimit.on_storage_error must be 'fallback' or 'raise', got {value!r}",
            field="on_storage_error",
        )


@attrs.frozen
class RateLimit:
    """At most ``requests`` requests in any sliding window of ``window`` seconds.

    Billabex allows 300 per 60 s per access token: ``RateLimit(300, 60.0)``.
    ``storage`` is ``"memory"`` (one process) or a ``redis://`` URL shared by
    every process using the same token (needs the ``redis`` extra).
    ``on_storage_error`` says what happens while that Redis is unreachable:
    ``"fallback"`` limits each process on its own (a warning is logged) and
    returns to Redis when it answers again; ``"raise"`` fails closed, every
    request raising ``RateLimiterUnavailableError``. Bad values raise
    ``InvalidRequestError`` here, before any client is built; the repr
    hides the storage URL's password.
    """

    requests: int = attrs.field(default=300)
    """Requests allowed in any one window: an int >= 1."""
    window: float = attrs.field(default=60.0, validator=_validate)
    """The window's length, in seconds: finite and > 0."""
    storage: str = attrs.field(
        default="memory",
        kw_only=True,
        validator=lambda _, __, value: _check_storage(value),
        repr=lambda value: repr(redact_url(value)),
    )
    """``"memory"``, or a ``redis://``, ``rediss://`` or ``unix://`` URL shared by every process."""
    on_storage_error: Literal["fallback", "raise"] = attrs.field(
        default="fallback", kw_only=True, validator=_check_on_error
    )
    """While Redis is unreachable: ``"fallback"`` to a per-process limit, or ``"raise"``."""

    @property
    def rate(self) -> float:
        """Sustained requests per second the limit allows."""
        return self.requests / self.window

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """``"300/60"`` -> ``RateLimit(300, 60.0)`` (``"300"``: per 60 s); ``off`` -> None.

        The command-line form shared by the CLI and the simulator (``none`` and
        ``0`` mean ``off`` too). Raises
        ``ValueError`` for anything else, ``InvalidRequestError`` for bounds.

        Args:
            text: ``REQUESTS/SECONDS``, ``REQUESTS`` (per 60 s) or ``off``.
        """
        if text.strip().lower() in ("off", "none", "0"):
            return None
        requests, sep, window = text.partition("/")
        try:
            return cls(int(requests), float(window) if sep else 60.0)
        except ValueError:
            raise ValueError(
                f"expected REQUESTS/SECONDS, e.g. 300/60, or 'off'; got {text!r}"
            ) from None
