"""The package's layering: each module imports only from its own layer and the ones below.

generated/base -> converter -> rate limit -> transport -> resources -> client
-> engine -> bulk/sync -> package -> testing -> cli and the pytest plugin
(which builds a client on the simulator). The simulator itself depends on
the models alone, and aiohttp is imported only by the transport, auth, the simulator and
the CLI. Every import form counts: ``import a.b``, ``from a import b`` (``b``
a submodule or a name), relative imports, imports inside functions and
``importlib.import_module("...")`` with a literal name. Only
``if TYPE_CHECKING:`` blocks are skipped (annotations, never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "billabex_async"
ROOT = "billabex_async"

# Lower index = lower layer. A module may import its own layer and below.
LAYERS: list[set[str]] = [
    # errors is at the bottom: any layer may raise (RateLimit validates itself).
    {"_generated", "_types", "_matching", "_lazy", "_redact"}
    | {"_retry_after", "_version", "errors"},
    {"_converter", "_request_bodies", "_response_hooks", "models"},
    {"_ratelimit"},
    # _otel: the transport's OpenTelemetry hooks (opentelemetry is imported on use only).
    {"_http", "_validation", "auth", "_otel"},
    {"resources"},
    {"_client"},
    {"_pool"},
    {"_engine"},
    {"bulk", "sync"},
    {"__init__"},
    # The simulator ranks here for those above it only; its own imports are
    # checked against SIMULATOR_MAY_IMPORT.
    {"testing"},
    # The pytest plugin hands users a client on the simulator: it needs both.
    {"cli", "__main__", "pytest_plugin", "fleet"},
]
# Deliberate upward calls, made inside a function so the heavy layer loads on
# first use (import time of a web backend): the contacts resource and the
# client hand bulk and sync calls to those layers.
DEFERRED_UPWARD = {
    ("resources", "bulk"),
    ("resources", "sync"),
    ("_client", "bulk"),
    ("_client", "sync"),
}
SIMULATOR_MAY_IMPORT = {"_generated", "_types", "_matching", "models", "testing"}
AIOHTTP_ALLOWED = {"_http", "testing", "cli", "auth", "fleet"}


def _unit_of(module: str) -> str | None:
    """The layer unit of a dotted module name inside the package, else None."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _is_submodule(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).is_dir() or (PACKAGE / relative).with_suffix(".py").is_file()


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def _function_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inside.update(id(n) for n in ast.walk(node) if n is not node)
    return inside


def imports(module: str, is_package: bool, source: str) -> Iterator[tuple[str, bool]]:
    """``(imported module, inside a function)`` for every runtime import in ``source``.

    ``module`` is the dotted name of the file, which resolves relative
    imports; ``from pkg import name`` yields ``pkg.name`` when that is a
    submodule of ours, else ``pkg``.
    """
    tree = ast.parse(source)
    skip, deferred = _type_checking_nodes(tree), _function_nodes(tree)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        inner = id(node) in deferred
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, inner
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                ours = candidate.startswith(ROOT + ".")
                yield (candidate if ours and _is_submodule(candidate) else target), inner
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in ("importlib.import_module", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value, inner


def _layer(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise AssertionError(f"module unit {unit!r} is in no layer: add it to LAYERS")


def violations(module: str, is_package: bool, source: str) -> list[str]:
    """What breaks the layering in ``source``, the text of module ``module``."""
    unit = _unit_of(module)
    assert unit is not None
    found: list[str] = []
    for imported, inner in imports(module, is_package, source):
        other = _unit_of(imported)
        if imported.split(".")[0] == "aiohttp" and unit not in AIOHTTP_ALLOWED:
            found.append(f"{module} imports aiohttp outside the transport")
        if other is None or other == unit:
            continue
        if unit == "testing":
            if other not in SIMULATOR_MAY_IMPORT:
                found.append(f"the simulator ({module}) imports {imported}")
        elif _layer(other) > _layer(unit) and not (inner and (unit, other) in DEFERRED_UPWARD):
            found.append(f"{module} (layer {_layer(unit)}) imports {imported} ({_layer(other)})")
    return found


def _dotted(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    return ".".join([ROOT, *(parts[:-1] if is_package else parts)]), is_package


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_respect_the_layers(path: Path) -> None:
    module, is_package = _dotted(path)
    assert violations(module, is_package, path.read_text()) == []


def test_every_unit_of_the_package_is_in_a_layer() -> None:
    units = {_unit_of(_dotted(path)[0]) for path in MODULES} - {"testing", None}
    for unit in units:
        _layer(str(unit))


UPWARD = [
    "from billabex_async.bulk import BulkReport",
    "from billabex_async import bulk",
    "import billabex_async.bulk",
    "import billabex_async.bulk._x as b",
    "from .. import bulk",
    "from ..bulk import BulkReport",
    "from .._engine.engine import Engine",
    "from billabex_async import BillabexClient",  # a name of the package: its top
    "def f():\n    from billabex_async import _engine",  # deferred, but not declared
    "import importlib\nimportlib.import_module('billabex_async.bulk')",
]


@pytest.mark.parametrize("source", UPWARD)
def test_an_upward_import_in_any_form_fails(source: str) -> None:
    assert violations("billabex_async.resources.contacts", False, source)


@pytest.mark.parametrize(
    "source",
    [
        "from billabex_async._http import Transport",
        "from .._types import UNSET",
        "from . import contacts",
        "from billabex_async import errors",
        "def f():\n    from billabex_async import bulk",  # a declared deferred delegation
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from billabex_async import sync",
    ],
)
def test_imports_from_below_or_declared_delegations_pass(source: str) -> None:
    assert violations("billabex_async.resources.contacts", False, source) == []


def test_the_simulator_and_aiohttp_rules_are_checked() -> None:
    assert violations("billabex_async.testing._store", False, "from billabex_async import _client")
    assert violations("billabex_async._engine.engine", False, "import aiohttp")
    assert not violations(
        "billabex_async.testing._store", False, "from billabex_async import models"
    )
