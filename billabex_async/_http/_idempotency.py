"""Transport layer: the Idempotency-Key every write carries, and the one body encoding.

One key per logical write: generated here unless the caller gives one, sent
on every attempt of the call (retries, aiohttp's own resend, the replay after
a token refresh), so a server that honours keys applies the write once. The
body is encoded once per call, by the resources' ``write_body`` (this
``encode_json``'s text, or the same text written directly); bulk reports use
the same function, so "the body sent" is always these exact bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from json.encoder import encode_basestring_ascii

__all__ = ["IDEMPOTENCY_HEADER", "WRITE_METHODS", "encode_json", "new_idempotency_key"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Compact, ASCII-only (non-ASCII escaped) and in field order: deterministic,
# so the same model always gives the same bytes.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
# JSONEncoder.encode builds a C encoder on every call; this one is built once
# with the same settings (check_circular is off: our bodies are trees).
_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)  # untyped, None without C
_C_ENCODER: Callable[[object, int], tuple[str, ...]] | None = (
    None
    if _make_c_encoder is None
    else _make_c_encoder(
        None, _ENCODER.default, encode_basestring_ascii, None, ":", ",", False, False, True
    )
)


def encode_json(value: object) -> str:
    """The JSON text a request body is sent as."""
    if _C_ENCODER is None:  # an interpreter without the C accelerator
        return _ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def new_idempotency_key() -> str:
    """A fresh random key in the UUID4 text form, for a write whose caller gave none.

    The same 122 random bits as ``uuid.uuid4()`` at a third of its cost (no
    ``UUID`` object on the way to the string).
    """
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# A hex digit -> the RFC 4122 variant digit keeping its two low bits (one
# dict probe instead of int(digit, 16) and an index).
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
