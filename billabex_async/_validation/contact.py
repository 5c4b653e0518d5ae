"""Validation layer: contact fields, ids and request options, checked before any request."""

from __future__ import annotations

import string
import unicodedata
from uuid import UUID

from billabex_async._lazy import lazy_pattern
from billabex_async._types import UNSET, canonical_uuid
from billabex_async._validation._messages import fail
from billabex_async.errors import InvalidRequestError

# Billabex publishes no limits; these are assumptions, written in the spec too.
MAX_NAME_LENGTH = 255  # characters (code points)
MAX_ROLE_LENGTH = 255
MAX_EMAIL_LENGTH = 254  # RFC 5321: a forward path holds at most 254 characters of address
MAX_NOTES_LENGTH = 10_000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
"""Characters; Billabex publishes no limit, and common servers accept 255."""
# Printable ASCII without spaces: a header value no proxy rewrites or folds.
_IDEMPOTENCY_KEY = lazy_pattern(globals(), "_IDEMPOTENCY_KEY", r"[!-~]+")

_LANGUAGE = lazy_pattern(globals(), "_LANGUAGE", r"[a-z]{2}")
# Deliberately loose: one @, something on each side, a dot in the domain, no
# spaces. The server is the judge of deliverability; this catches typos early.
_EMAIL = lazy_pattern(globals(), "_EMAIL", r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Unicode category Cc (C0, DEL, C1) and lone surrogates: the first break the
# systems that show or mail a name, the second cannot be encoded as UTF-8 JSON.
_CONTROL = lazy_pattern(globals(), "_CONTROL", "[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_LINES = lazy_pattern(
    globals(), "_CONTROL_EXCEPT_LINES", "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
)
_SURROGATE = lazy_pattern(globals(), "_SURROGATE", "[\ud800-\udfff]")
# Either of the above (control, or control but line breaks and tab), in one scan.
_ANY_BAD = lazy_pattern(globals(), "_ANY_BAD", "[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ANY_BAD_LINES = lazy_pattern(
    globals(), "_ANY_BAD_LINES", "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]"
)
# Format characters (zero-width space, joiners, BOM, bidi marks): legitimate
# inside some names, but never in an address, where they are copy-paste debris.
_FORMAT_OR_SPACE = lazy_pattern(
    globals(),
    "_FORMAT_OR_SPACE",
    r"[\s\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]",
)
# Letters that render as nothing (Hangul fillers, braille blank).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
# A visible ASCII character settles "has a visible character" in one scan.
_VISIBLE_ASCII = lazy_pattern(globals(), "_VISIBLE_ASCII", "[!-~]")


def _check_text(value: str, field: str, max_length: int, *, lines: bool = False) -> None:
    """Length, lone surrogates and control characters (tab and newlines too, unless ``lines``)."""
    if len(value) > max_length:
        raise fail(field, f"is longer than {max_length} characters ({len(value)})", value)
    if not (_ANY_BAD_LINES if lines else _ANY_BAD).search(value):
        return  # one scan for the common, clean case; the ones below name the problem
    if found := _SURROGATE.search(value):
        where = found.start()
        raise fail(field, f"has a lone surrogate U+{ord(found[0]):04X} at {where}", value)
    control = _CONTROL_EXCEPT_LINES if lines else _CONTROL
    if found := control.search(value):
        where = found.start()
        raise fail(field, f"has the control character U+{ord(found[0]):04X} at {where}", value)


def _invisible(char: str) -> bool:
    return (
        char.isspace()
        or char in _BLANK_LETTERS
        or unicodedata.category(char) in _INVISIBLE_CATEGORIES
    )


def check_id(value: str | UUID, field: str) -> str:
    """An account or contact id as the canonical UUID string."""
    canonical = canonical_uuid(value)
    if canonical is None:
        raise fail(field, "must be a UUID", value)
    return canonical


def check_full_name(value: object, field: str = "full_name") -> None:
    """A name with at least one visible character, no control character, <= 255 characters."""
    if value is UNSET:
        return
    if not isinstance(value, str):
        raise fail(field, "must be a string", value)
    _check_text(value, field, MAX_NAME_LENGTH)
    if not _VISIBLE_ASCII.search(value) and all(_invisible(char) for char in value):
        problem = "must not be empty" if not value else "has no visible character"
        raise fail(field, problem, value)


def check_language(value: object, field: str = "language") -> None:
    """An ISO 639-1 code: two lowercase ASCII letters."""
    if value is UNSET:
        return
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        raise fail(
            field, "must be an ISO 639-1 code of two lowercase letters (en, fr, de...)", value
        )


def check_email(value: object, field: str = "email") -> None:
    """An address sent exactly as given, so surrounding whitespace is refused, not stripped."""
    if value is UNSET or value is None:
        return
    if not isinstance(value, str):
        raise fail(field, "must be a string or None", value)
    _check_text(value, field, MAX_EMAIL_LENGTH)
    if value != value.strip():
        raise fail(field, "has surrounding whitespace (strip it before sending)", value)
    if found := _FORMAT_OR_SPACE.search(value):
        where = found.start()
        problem = f"has a space or invisible character (U+{ord(found[0]):04X}) at {where}"
        raise fail(field, problem, value)
    if not _EMAIL.fullmatch(value):
        raise fail(field, "is not a valid email address", value)


def check_role(value: object, field: str = "role") -> None:
    """Optional text: a string of at most 255 characters, no control character, or None."""
    if value is UNSET or value is None:
        return
    if not isinstance(value, str):
        raise fail(field, "must be a string or None", value)
    _check_text(value, field, MAX_ROLE_LENGTH)


def check_notes(value: object, field: str = "notes") -> None:
    """Optional free text of at most 10,000 characters; tabs and line breaks are allowed."""
    if value is UNSET or value is None:
        return
    if not isinstance(value, str):
        raise fail(field, "must be a string or None", value)
    _check_text(value, field, MAX_NOTES_LENGTH, lines=True)


def check_is_primary(value: object, field: str = "is_primary") -> None:
    """True, False or None; no truthy stand-ins like ``"yes"`` or ``1``."""
    if value is UNSET or value is None or isinstance(value, bool):
        return
    raise fail(field, "must be True, False or None", value)


# The common body (a name with a visible ASCII character, a language, an
# all-ASCII address or none, clean role and notes) passes with one cheap test
# per field; the checks each field has accept every such value. Anything else
# takes the field checks, which name the problem (or accept it too).
_BAD_TEXT = "\x00-\x1f\x7f-\x9f\ud800-\udfff"
_PLAIN_NAME = lazy_pattern(globals(), "_PLAIN_NAME", f"[^{_BAD_TEXT}]*[!-~][^{_BAD_TEXT}]*")
_PLAIN_EMAIL = lazy_pattern(
    globals(), "_PLAIN_EMAIL", r"[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+"
)  # _EMAIL over visible ASCII
# Every string _LANGUAGE matches, for a set probe instead of a regex match.
_LANGUAGES = frozenset(a + b for a in string.ascii_lowercase for b in string.ascii_lowercase)


def _plain_contact(
    name: object, language: object, email: object, role: object, notes: object, is_primary: object
) -> bool:
    return (
        type(name) is str
        and len(name) <= MAX_NAME_LENGTH
        and (
            # Printable ASCII (U+0020 to U+007E), not only spaces: a visible
            # character, nothing to refuse; str methods, faster than the regex.
            (name.isascii() and name.isprintable() and name.strip() != "")
            or _PLAIN_NAME.fullmatch(name) is not None
        )
        and type(language) is str
        and language in _LANGUAGES
        and (
            email is None
            or email is UNSET
            or (
                type(email) is str
                and len(email) <= MAX_EMAIL_LENGTH
                and _PLAIN_EMAIL.fullmatch(email) is not None
            )
        )
        and (
            role is UNSET
            or role is None
            or (type(role) is str and len(role) <= MAX_ROLE_LENGTH and not _ANY_BAD.search(role))
        )
        and (
            notes is UNSET
            or notes is None
            or (
                type(notes) is str
                and len(notes) <= MAX_NOTES_LENGTH
                and not _ANY_BAD_LINES.search(notes)
            )
        )
        and (is_primary is UNSET or is_primary is None or type(is_primary) is bool)
    )


def check_contact(model: object) -> None:
    """Every field of a create, upsert or update body (fields at UNSET are skipped)."""
    try:
        # The write models have all six: plain attribute reads, cheaper than getattr's default.
        name, language, email = model.full_name, model.language, model.email  # type: ignore[attr-defined]
        role, notes, is_primary = model.role, model.notes, model.is_primary  # type: ignore[attr-defined]
    except AttributeError:
        name = getattr(model, "full_name", UNSET)
        language = getattr(model, "language", UNSET)
        email = getattr(model, "email", UNSET)
        role = getattr(model, "role", UNSET)
        notes = getattr(model, "notes", UNSET)
        is_primary = getattr(model, "is_primary", UNSET)
    if _plain_contact(name, language, email, role, notes, is_primary):
        return
    check_full_name(name)
    check_language(language)
    check_email(email)
    check_role(role)
    check_notes(notes)
    check_is_primary(is_primary)


def check_first(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail("first", "must be an integer >= 1", value)


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
