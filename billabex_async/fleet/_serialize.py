"""Fleet layer: jobs and results go through Redis as JSON, never pickle.

arq pickles by default, which lets anyone who can write to the Redis run
code in every worker. JSON carries what a sync job needs (strings, numbers,
lists, dicts); an exception becomes ``{"error": type, "message": text}``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]


def _default(value: object) -> object:
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    return json.dumps(value, default=_default, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    """The value ``dumps`` wrote."""
    return json.loads(data)
