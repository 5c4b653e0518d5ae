"""The package as it was before the performance work, for before/after rows.

``checkout()`` extracts ``billabex_async`` as of ``BASELINE`` (with ``git
archive``) into ``bench/out/baseline-<sha>/``, once; put that directory first
on ``PYTHONPATH`` (``env()``) and a subprocess imports the old package
instead of this one. Outside a git clone there is no baseline: sections then
print the "after" column only.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

__all__ = ["BASELINE", "checkout", "env", "python"]

ROOT = Path(__file__).resolve().parent.parent
# The last commit before sub-linear matching, the indexed engine and the
# client hot-path work: the "today" column of the performance table.
BASELINE = "a237ae66e405b4d505d6920a40c65068224070d2"


def checkout(ref: str = BASELINE) -> Path | None:
    """A directory holding ``billabex_async`` as of ``ref``; None without git."""
    target = ROOT / "bench" / "out" / f"baseline-{ref[:12]}"
    if (target / "billabex_async" / "__init__.py").exists():
        return target
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref, "billabex_async"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(partial, filter="data")
    partial.rename(target)
    return target


def env(root: Path | None) -> dict[str, str]:
    """The environment for a subprocess that imports the package from ``root``.

    ``None`` means this checkout's package (the "after" side).
    """
    out = dict(os.environ)
    first = str(root) if root is not None else str(ROOT)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [first, out.get("PYTHONPATH", "")]))
    return out


def python(code: str, root: Path | None, *args: str, timeout: float = 1800) -> str:
    """Run ``code`` in a fresh interpreter on the package at ``root``; its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env(root),
        cwd=ROOT / "bench",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout
