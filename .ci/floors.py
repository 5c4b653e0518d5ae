"""Pin every runtime dependency to the lowest version pyproject.toml allows.

Usage: python .ci/floors.py            print pip constraints (name==floor)
       python .ci/floors.py --check    fail unless this interpreter has exactly those

`make test-lowest` installs with these constraints and runs the suite, so the
floors in pyproject.toml are proven, not hoped for.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
EXTRAS = ("cli", "redis")  # optional extras whose floors the job proves too
_FLOOR = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)")


def floors() -> dict[str, str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in EXTRAS:
        requirements += project["optional-dependencies"][extra]
    pins = {}
    for requirement in requirements:
        match = _FLOOR.fullmatch(requirement.strip())
        if match is None:
            sys.exit(f"floors: {requirement!r} is not of the form 'name>=version'")
        pins[match[1]] = match[2]
    return pins


def _release(text: str) -> tuple[int, ...]:
    """``3.14`` and ``3.14.0`` alike, as pip's ``==`` treats them."""
    match = re.match(r"[0-9]+(\.[0-9]+)*", text)
    parts = [int(p) for p in match[0].split(".")] if match else []
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def main() -> None:
    pins = floors()
    if "--check" not in sys.argv[1:]:
        print("\n".join(f"{name}=={floor}" for name, floor in pins.items()))
        return
    wrong = []
    for name, floor in pins.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        print(f"{name} {installed} (floor {floor})")
        if _release(installed) != _release(floor):
            wrong.append(name)
    if wrong:
        sys.exit(f"floors: not at their floor: {', '.join(wrong)}")


if __name__ == "__main__":
    main()
