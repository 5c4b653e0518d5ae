"""Package plumbing: names a package exports but loads on first use (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(
    package: str,
    namespace: dict[str, Any],
    names: Mapping[str, str],
    *,
    subpackages: Collection[str] = (),
) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``names[name]`` when ``name`` is first read.

    The value is then stored in ``namespace`` (the package's ``globals()``),
    so later lookups never reach ``__getattr__``; a name of ``subpackages``
    returns that subpackage itself. Anything else is an ``AttributeError``.
    """

    def __getattr__(name: str) -> object:
        if name in subpackages:
            return importlib.import_module(f"{package}.{name}")
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
