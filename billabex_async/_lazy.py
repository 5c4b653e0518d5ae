"""Package plumbing: what a module defines but builds on first use.

Names a package exports but loads on first use (PEP 562), and regular
expressions compiled on first use.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, cast

__all__ = ["lazy_getattr", "lazy_pattern"]


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


def lazy_pattern(namespace: dict[str, Any], name: str, pattern: str) -> re.Pattern[str]:
    """A stand-in for ``re.compile(pattern)``, bound to the global ``namespace[name]``.

    On its first attribute read (``.fullmatch``, ``.search``...) it compiles
    the pattern and puts the compiled one in its place, so every later use
    reads a plain ``re.Pattern`` from the module's globals, at no extra cost.
    A character class reaching past U+00FF (surrogates, format characters)
    takes about a millisecond to compile: an import that never validates
    should not pay for it.
    """
    return cast("re.Pattern[str]", _LazyPattern(namespace, name, pattern))


class _LazyPattern:
    """The pattern ``lazy_pattern`` returns until its first use."""

    __slots__ = ("_name", "_namespace", "_pattern")

    def __init__(self, namespace: dict[str, Any], name: str, pattern: str) -> None:
        self._namespace = namespace
        self._name = name
        self._pattern = pattern

    def __getattr__(self, attr: str) -> object:
        current = self._namespace.get(self._name)
        compiled = re.compile(self._pattern)
        if current is self:
            self._namespace[self._name] = compiled
        elif not isinstance(current, re.Pattern) or current.pattern != self._pattern:
            # Bound under another name: it would compile on every use.
            raise RuntimeError(f"lazy pattern {self._pattern!r} is not the global {self._name!r}")
        return getattr(compiled, attr)

    def __repr__(self) -> str:
        return f"lazy_pattern({self._pattern!r})"
