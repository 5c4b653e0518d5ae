"""Bench support: every private name of billabex_async the bench reaches, in one place.

The bench measures internals (the converter, the matcher, the engine, the
window limiter) in today's package and in older ones (``bench.baseline``),
where those modules lived elsewhere. Each name is looked up in the modules
listed for it, first match wins, so one list serves every side and a move
inside the package is one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CONFLICT_OP",
    "ENGINE",
    "MATCHER",
    "MATCHING_MODULE",
    "NAME_THRESHOLD",
    "NORMALIZE_NAME",
    "STRUCTURE",
    "UNSTRUCTURE",
    "WINDOW_LIMITER",
    "find",
    "import_line",
]

Where = tuple[str, Sequence[str]]
"""A name and the modules that may define it, newest layout first."""

STRUCTURE: Where = ("structure", ["billabex_async._converter"])
UNSTRUCTURE: Where = ("unstructure", ["billabex_async._converter"])
MATCHER: Where = ("Matcher", ["billabex_async._matching"])
NAME_THRESHOLD: Where = ("name_threshold", ["billabex_async._matching"])
NORMALIZE_NAME: Where = ("normalize_name", ["billabex_async._matching"])
MATCHING_MODULE = "billabex_async._matching"
"""The matcher's module as a file: the matching section loads the baseline's copy directly."""
WINDOW_LIMITER: Where = (
    "SlidingWindowLimiter",
    ["billabex_async._ratelimit", "billabex_async._ratelimit.window", "billabex_async._http"],
)
ENGINE: Where = ("Engine", ["billabex_async._engine.engine", "billabex_async.bulk._engine"])
CONFLICT_OP: Where = ("Op", ["billabex_async._engine.conflicts", "billabex_async.bulk._conflicts"])


def find(where: Where) -> Any:
    """The first of ``where``'s modules that defines its name, and that name's value.

    ImportError names every module tried when none does.
    """
    name, modules = where
    for module in modules:
        try:
            found = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise  # the module exists, but something it imports does not
            continue
        if hasattr(found, name):
            return getattr(found, name)
    raise ImportError(f"{name} is in none of {', '.join(modules)}")


def import_line(alias: str, where: Where) -> str:
    """Python source binding ``alias`` to ``find(where)``, for code run in a child process."""
    return f"from bench._private import find as _find\n{alias} = _find({where!r})\n"
