"""`make dist`: what the built wheel and sdist must (and must not) contain.

The wheel ships the package alone: ``billabex_async/`` with its ``py.typed``
marker, plus its own ``.dist-info`` (the license among it). Tests, the bench,
the examples, codegen and the spec stay in the sdist and the repository. Exit
status 0 when both archives pass, 1 with one line per problem otherwise.

    python -m tests.check_dist [DIST_DIR]   (default: dist)
"""

from __future__ import annotations

import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterable
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "billabex_async"
# Must be in the wheel: the typing marker (PEP 561), the models, the console script's module.
WHEEL_REQUIRED = (
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/py.typed",
    f"{PACKAGE}/_generated/models.py",
    f"{PACKAGE}/cli/__init__.py",
)
# Must be at the sdist's top level: what a rebuild and a reader need.
SDIST_REQUIRED = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md")


def _project() -> tuple[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["name"], project["version"]


def wheel_problems(names: Iterable[str], metadata: str, version: str) -> list[str]:
    """What is wrong with a wheel, given its file names and its METADATA text."""
    names = list(names)
    dist_info = f"{PACKAGE}-{version}.dist-info/"
    problems = [f"wheel: missing {name}" for name in WHEEL_REQUIRED if name not in names]
    problems += [
        f"wheel: {name} is not part of the package"
        for name in names
        if not name.startswith((f"{PACKAGE}/", dist_info))
    ]
    problems += [
        f"wheel: {name} is a test module"
        for name in names
        if name.startswith(f"{PACKAGE}/") and "/tests/" in name
    ]
    if f"{dist_info}licenses/LICENSE" not in names:
        problems.append(f"wheel: missing {dist_info}licenses/LICENSE")
    fields = Parser().parsestr(metadata)
    if fields["License-Expression"] != "MIT":
        problems.append(f"wheel: License-Expression is {fields['License-Expression']!r}")
    if not fields.get_all("Project-URL"):
        problems.append("wheel: no Project-URL")
    return problems


def sdist_problems(names: Iterable[str], root: str) -> list[str]:
    """What is wrong with an sdist, given its member names under ``root/``."""
    present = {name.removeprefix(f"{root}/") for name in names}
    return [f"sdist: missing {name}" for name in SDIST_REQUIRED if name not in present]


def check(dist: Path) -> list[str]:
    """Every problem of the one wheel and the one sdist of this version in ``dist``."""
    name, version = _project()
    stem = f"{name.replace('-', '_')}-{version}"
    wheels = sorted(dist.glob(f"{stem}-*.whl"))
    sdists = sorted(dist.glob(f"{stem}.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"{dist}: expected one {stem} wheel and sdist, found {wheels + sdists}"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(f"{PACKAGE}-{version}.dist-info/METADATA").decode()
    problems = wheel_problems(names, metadata, version)
    with tarfile.open(sdists[0]) as sdist:
        problems += sdist_problems(sdist.getnames(), stem)
    return problems


def main(argv: list[str]) -> int:
    dist = Path(argv[0]) if argv else ROOT / "dist"
    problems = check(dist)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"check_dist: {dist} holds a wheel of the package alone, with py.typed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
