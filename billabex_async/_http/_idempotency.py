"""Transport layer: the Idempotency-Key every write carries, and the one body encoding.

One key per logical write: generated here unless the caller gives one, sent
on every attempt of the call (retries, aiohttp's own resend, the replay after
a token refresh), so a server that honours keys applies the write once. The
body is encoded once per call by ``encode_json``; resources and bulk reports
use the same function, so "the body sent" is always these exact bytes.
"""

from __future__ import annotations

import json
import uuid

__all__ = ["IDEMPOTENCY_HEADER", "WRITE_METHODS", "encode_json", "new_idempotency_key"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Compact, ASCII-only (non-ASCII escaped) and in field order: deterministic,
# so the same model always gives the same bytes.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def encode_json(value: object) -> str:
    """The JSON text a request body is sent as."""
    return _ENCODER.encode(value)


def new_idempotency_key() -> str:
    """A fresh random key (UUID4), for a write whose caller gave none."""
    return str(uuid.uuid4())
