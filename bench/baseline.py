"""Bench support: the package as it was before the performance work, for before/after rows.

``checkout()`` extracts ``billabex_async`` as of ``BASELINE`` (with ``git
archive``) into ``bench/out/baseline-<sha>/``, once; ``env()`` puts that
directory first on ``PYTHONPATH``, so a subprocess imports the old package
instead of this one (and still finds ``bench`` after it). Outside a git
clone there is no baseline: sections then print the "after" column only.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from bench import BENCH, OUT, ROOT

__all__ = ["BASELINE", "checkout", "env", "python"]

# The last commit before sub-linear matching, the indexed engine and the
# client hot-path work: the "today" column of the performance table.
BASELINE = "a237ae66e405b4d505d6920a40c65068224070d2"


def checkout(ref: str = BASELINE) -> Path | None:
    """A directory holding ``billabex_async`` as of ``ref``; None without git."""
    target = OUT / f"baseline-{ref[:12]}"
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

    ``None`` means this checkout's package (the "after" side). The checkout
    comes after ``root`` on the path: the child finds ``bench`` there, and
    ``billabex_async`` in ``root`` first.
    """
    out = dict(os.environ)
    first = [str(root)] if root is not None else []
    paths = [*first, str(ROOT), out.get("PYTHONPATH", "")]
    out["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return out


def python(code: str, root: Path | None, *args: str, timeout: float = 1800) -> str:
    """Run ``code`` in a fresh interpreter on the package at ``root``; its stdout.

    The working directory is bench/, never the checkout's root, whose
    package would come first on the path and shadow the baseline's.
    """
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env(root),
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout
