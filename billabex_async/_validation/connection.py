"""Validation layer: the token and the URLs a client or an OAuth flow may talk to."""

from __future__ import annotations

import unicodedata

from yarl import URL

from billabex_async._lazy import lazy_pattern
from billabex_async._types import is_loopback_host, redact_url
from billabex_async._validation._messages import fail, show
from billabex_async.errors import InvalidRequestError

__all__ = ["check_base_url", "check_token"]

# What an HTTP header value may carry: visible ASCII. A bearer token is
# narrower still (RFC 6750), but anything else here would fail in aiohttp.
_NOT_VISIBLE_ASCII = lazy_pattern(globals(), "_NOT_VISIBLE_ASCII", "[^\x21-\x7e]")
_SPACE_OR_CONTROL = lazy_pattern(globals(), "_SPACE_OR_CONTROL", r"[\s\x00-\x1f\x7f-\x9f]")


def check_token(value: object, *, source: str = "token") -> str:
    """The bearer token to send: surrounding whitespace stripped, then visible ASCII only.

    Whitespace (or a byte-order mark) around a token is a copy-paste accident
    (a file or variable ending in a newline), so it is dropped; anything inside that a header
    cannot carry is refused. Messages never show the token.
    """
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"{source} must be a string, got {type(value).__name__}", field="token"
        )
    token = value.strip().strip("\ufeff").strip()  # a byte-order mark: a file read as utf-8
    if not token:
        raise InvalidRequestError(f"{source} is empty", field="token")
    if found := _NOT_VISIBLE_ASCII.search(token):
        char = found[0]
        kind = (
            "a non-ASCII character"
            if ord(char) > 0x7F and not unicodedata.category(char).startswith(("C", "Z"))
            else f"the invisible character U+{ord(char):04X}"
        )
        raise InvalidRequestError(
            f"{source} has {kind} at position {found.start()}: "
            "a token is visible ASCII only (check how it was copied)",
            field="token",
        )
    return token


def check_base_url(value: object, field: str = "base_url") -> URL:
    """An https URL (plain http only to a loopback host) with no credentials, query or fragment.

    The same rule guards the API and the OAuth endpoints: a token or client
    secret never travels in cleartext beyond this machine.
    """
    if not isinstance(value, str):
        raise fail(field, "must be a string", value)
    text = value.strip().rstrip("/")
    shown = show(redact_url(text, hide_user=True))
    if _SPACE_OR_CONTROL.search(text):
        raise InvalidRequestError(
            f"{field} must be a URL without spaces or control characters, got {shown}",
            field=field,
        )
    try:
        url = URL(text)
        host = url.host
    except ValueError as exc:
        raise InvalidRequestError(
            f"{field} is not a valid URL ({exc}): {shown}", field=field
        ) from None
    if url.user is not None or url.password is not None:
        raise InvalidRequestError(
            f"{field} must not carry a user name or password (requests authenticate with "
            f"the token), got {shown}",
            field=field,
        )
    if url.scheme not in ("https", "http") or not host:
        raise InvalidRequestError(f"{field} must be an http(s) URL, got {shown}", field=field)
    if url.scheme == "http" and not is_loopback_host(host):
        raise InvalidRequestError(
            f"{field} must use https (plain http is accepted only for localhost), got {shown}",
            field=field,
        )
    if url.query_string or url.fragment or "?" in text or "#" in text:
        raise InvalidRequestError(
            f"{field} must not have a query or fragment, got {shown}", field=field
        )
    return url
