"""The nox matrix, the classifiers and CI name the same Pythons."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _matrix() -> list[str]:
    """noxfile.PYTHONS, read without importing nox."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "PYTHONS":
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return [str(v) for v in value]
    raise AssertionError("noxfile.py has no PYTHONS")


def test_the_matrix_is_the_classifiers_pythons() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    prefix = "Programming Language :: Python :: "
    versions = [c.removeprefix(prefix) for c in project["classifiers"] if c.startswith(prefix)]
    assert _matrix() == [v for v in versions if re.fullmatch(r"3\.\d+", v)]
    assert project["requires-python"] == f">={_matrix()[0]}"


def test_ci_runs_every_session_but_the_one_make_check_ran() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    [matrix_line] = [line for line in run.splitlines() if " make matrix " in line]
    sessions = matrix_line.split('SESSIONS="', 1)[1].rstrip('"').split()
    _, *others = _matrix()  # the first: `make check` runs the suite on it
    assert sessions == [*(f"tests-{v}" for v in others), "lowest"]
    assert "make check" in run
