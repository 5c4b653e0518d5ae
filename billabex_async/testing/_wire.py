"""Simulator layer: the wire format — error envelopes, body validation, cursors.

Written by hand from the API reference, independent of the SDK's converter, so
a converter bug cannot hide behind a simulator that shares it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from billabex_async._generated.models import ContactUpdate
from billabex_async._types import canonical_uuid

__all__ = [
    "ApiError",
    "canonical_uuid",
    "decode_cursor",
    "dumps",
    "encode_cursor",
    "error_body",
    "parse_first",
    "validate_write",
]

_LANGUAGE = re.compile(r"[a-z]{2}")
# "Plausible", not RFC 5322: one @, a dot in the domain, no space or control
# character (ASCII, C1, or a Unicode space). The class is spelled out rather
# than \s so that it means what the spec's `pattern` means in every engine.
_ADDRESS_PART = "[^@\\x00-\\x20\\x7f-\\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
_EMAIL = re.compile(rf"{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}")
_MAX_EMAIL = 254
# The spec's fullName `pattern: "\S"` is an ECMA-262 regex: its spaces are these
# (not Python's, which add \x1c-\x1f and \x85 and leave out \ufeff).
_ECMA_SPACES = "\t\n\v\f\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_NOT_BLANK = re.compile(f"[^{_ECMA_SPACES}]")
_DIGITS = re.compile(r"[0-9]+")
# The spec sets no maximum on `first` and says a server may cap it: past this
# many digits the value is read as the largest one, never refused.
_MAX_FIRST_DIGITS = 18


class ApiError(Exception):
    """An HTTP error answer: status, dotted code, message, extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


# One encoder for every body: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON, the way the simulator sends every body."""
    return _ENCODER.encode(value).encode()


def error_body(code: str, message: str) -> bytes:
    """The error envelope: always JSON with ``message`` and ``code``."""
    return dumps({"message": message, "code": code})


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, f"app-contacts.contact.invalid-{field}", message)


# The spec's assumed limits (maxLength), in characters.
_MAX_NAME = 255
_MAX_LENGTHS = {"role": 255, "notes": 10_000}


def _full_name(value: object) -> str:
    if not isinstance(value, str) or not _NOT_BLANK.search(value):
        raise _invalid("full-name", "fullName must be a non-empty string.")
    if len(value) > _MAX_NAME:
        raise _invalid("full-name", f"fullName must be at most {_MAX_NAME} characters.")
    return value


def _language(value: object) -> str:
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        raise _invalid("language", "language must be an ISO 639-1 code such as 'en'.")
    return value


def _email(value: object) -> str | None:
    if value is not None and (
        not isinstance(value, str) or len(value) > _MAX_EMAIL or not _EMAIL.fullmatch(value)
    ):
        raise _invalid("email", "email must be an email address or null.")
    return value


def _text(wire: str) -> Callable[[object], str | None]:
    """The check of an optional free-text field: a string up to its limit, or null."""

    def check(value: object) -> str | None:
        if value is not None and not isinstance(value, str):
            raise _invalid(wire, f"{wire} must be a string or null.")
        if value is not None and len(value) > _MAX_LENGTHS[wire]:
            raise _invalid(wire, f"{wire} must be at most {_MAX_LENGTHS[wire]} characters.")
        return value

    return check


def _is_primary(value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise _invalid("is-primary", "isPrimary must be a boolean or null.")
    return value


# In the order they are checked: (wire name, model field, check, slug when required).
_FIELDS: tuple[tuple[str, str, Callable[[object], object], str | None], ...] = (
    ("fullName", "full_name", _full_name, "full-name"),
    ("language", "language", _language, "language"),
    ("email", "email", _email, None),
    ("role", "role", _text("role"), None),
    ("notes", "notes", _text("notes"), None),
    ("isPrimary", "is_primary", _is_primary, None),
)


def validate_write(body: object, *, required: bool) -> ContactUpdate:
    """Check a create/upsert (``required``) or PATCH body; fields absent stay UNSET.

    Raises ApiError 422 with a dotted code on the first invalid field. Unknown
    fields (including read-only ones such as ``id``) are ignored, as the real
    API is assumed to do.
    """
    if not isinstance(body, dict):
        raise ApiError(422, "app-contacts.request.invalid-body", "The body must be a JSON object.")
    fields: dict[str, Any] = {}
    for wire, name, check, slug in _FIELDS:
        if wire in body:
            fields[name] = check(body[wire])
        elif required and slug is not None:
            raise ApiError(422, f"app-contacts.contact.{slug}-required", f"{wire} is required.")
    return ContactUpdate(**fields)


def parse_first(raw: str | None, default: int) -> int:
    """The requested page size (before capping); 400 unless a whole number >= 1."""
    if raw is None:
        return default
    digits = raw.lstrip("0")
    if not _DIGITS.fullmatch(raw) or not digits:
        raise ApiError(
            400, "app-contacts.pagination.invalid-first", "first must be an integer >= 1."
        )
    return int(digits) if len(digits) <= _MAX_FIRST_DIGITS else 10**_MAX_FIRST_DIGITS


def encode_cursor(account_id: str, seq: int, first: int) -> str:
    """An opaque cursor: urlsafe base64 of the last node's sequence number and the query."""
    blob = dumps({"a": account_id, "s": seq, "f": first})
    return base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, account_id: str, first: int) -> int:
    """The sequence number a cursor points after; 400 if garbage or from another query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        blob = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        seq, owner, cursor_first = blob["s"], blob["a"], blob["f"]
        valid = isinstance(seq, int) and owner == account_id
    except (ValueError, UnicodeError, binascii.Error, TypeError, KeyError):
        valid = False
    if not valid:
        raise ApiError(
            400, "app-contacts.pagination.invalid-cursor", "after is not a valid cursor."
        )
    if cursor_first != first:
        raise ApiError(
            400,
            "app-contacts.pagination.cursor-mismatch",
            "This cursor belongs to a query with another 'first'.",
        )
    return int(seq)
