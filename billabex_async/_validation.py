"""Resources layer: checks run on user input before anything is sent."""

from __future__ import annotations

import re
from uuid import UUID

from billabex_async._types import UNSET, Unset
from billabex_async.errors import InvalidRequestError

__all__ = [
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "check_email",
    "check_first",
    "check_full_name",
    "check_id",
    "check_idempotency_key",
    "check_language",
]

MAX_IDEMPOTENCY_KEY_LENGTH = 255
"""Characters; Billabex publishes no limit, and common servers accept 255."""
# Printable ASCII without spaces: a header value no proxy rewrites or folds.
_IDEMPOTENCY_KEY = re.compile(r"[!-~]+")

_LANGUAGE = re.compile(r"[a-z]{2}")
# Deliberately loose: one @, something on each side, a dot in the domain, no
# spaces. The server is the judge of deliverability; this catches typos early.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_id(value: str | UUID, field: str) -> str:
    """An account or contact id as the canonical UUID string."""
    if isinstance(value, UUID):
        return str(value)
    try:
        return str(UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        raise InvalidRequestError(f"{field} must be a UUID, got {value!r}", field=field) from None


def check_full_name(value: str | Unset, field: str = "full_name") -> None:
    if value is UNSET:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{field} must be a non-empty string", field=field)


def check_language(value: str | Unset, field: str = "language") -> None:
    if value is UNSET:
        return
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        raise InvalidRequestError(
            f"{field} must be an ISO 639-1 code of two lowercase letters (en, fr, de...), "
            f"got {value!r}",
            field=field,
        )


def check_email(value: str | Unset | None, field: str = "email") -> None:
    if value is UNSET or value is None:
        return
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()):
        # The address is contact data: say what is wrong, not what it was.
        raise InvalidRequestError(f"{field} is not a valid email address", field=field)


def check_first(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"first must be an integer >= 1, got {value!r}", field="first")


def check_idempotency_key(value: str | None) -> None:
    """A caller's key: 1 to 255 printable ASCII characters, no spaces (None: generated)."""
    if value is None:
        return
    if (
        not isinstance(value, str)
        or len(value) > MAX_IDEMPOTENCY_KEY_LENGTH
        or not _IDEMPOTENCY_KEY.fullmatch(value)
    ):
        raise InvalidRequestError(
            "idempotency_key must be 1 to "
            f"{MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters without spaces",
            field="idempotency_key",
        )
