"""The package's layering: each module imports only from the layers below it.

errors/generated/base -> converter -> transport (_http) -> resources ->
bulk/sync -> client -> package -> cli. The simulator depends on the models
alone, and aiohttp is imported at run time only by the transport, the
simulator and the CLI.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "billabex_async"

# Lower index = lower layer. A module may import its own layer and below.
LAYERS: list[set[str]] = [
    # errors is at the bottom: any layer may raise (RateLimit validates itself).
    {
        "_generated",
        "_types",
        "_matching",
        "_fuzzy_index",
        "_lazy",
        "_redact",
        "_retry_after",
        "_version",
        "errors",
    },
    {"_converter", "models"},
    {"_http", "_validation", "auth"},
    {"resources", "_pagination"},
    {"bulk", "sync"},
    {"_client"},
    {"__init__"},
    {"cli", "__main__"},
]
SIMULATOR_MAY_IMPORT = {"_generated", "_types", "_matching", "models", "testing"}
AIOHTTP_ALLOWED = {"_http", "testing", "cli", "auth"}


def _unit(path: Path) -> str:
    """The layer unit of a module: its top-level module or subpackage name."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _runtime_imports(tree: ast.Module) -> Iterator[str]:
    """Imported module names, skipping ``if TYPE_CHECKING:`` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _layer(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise AssertionError(f"module unit {unit!r} is in no layer: add it to LAYERS")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_respect_the_layers(path: Path) -> None:
    unit = _unit(path)
    imports = list(_runtime_imports(ast.parse(path.read_text())))
    inner = [m.split(".")[1] for m in imports if m.startswith("billabex_async.")]
    if unit == "testing":
        assert set(inner) <= SIMULATOR_MAY_IMPORT, f"{path.name} imports {set(inner)}"
    else:
        mine = _layer(unit)
        for other in inner:
            assert _layer(other) <= mine, f"{unit} (layer {mine}) imports {other}"
    if unit not in AIOHTTP_ALLOWED:
        assert not any(m == "aiohttp" or m.startswith("aiohttp.") for m in imports), (
            f"{path.relative_to(PACKAGE)} imports aiohttp outside the transport"
        )


def test_the_layer_check_would_catch_an_upward_import() -> None:
    tree = ast.parse("from billabex_async.bulk import BulkReport\nimport aiohttp\n")
    assert list(_runtime_imports(tree)) == ["billabex_async.bulk", "aiohttp"]
    assert _layer("bulk") > _layer("resources")
