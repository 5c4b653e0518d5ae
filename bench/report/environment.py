"""Report: where and with what the benchmark ran (machine, interpreter, library versions)."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
from importlib.metadata import PackageNotFoundError, version

from bench.procfs import cpu_model

__all__ = ["environment"]

PACKAGES = (
    "billabex-async",
    "aiohttp",
    "cattrs",
    "attrs",
    "rapidfuzz",
    "aiolimiter",
    "httpx",
    "openapi-python-client",
    "matplotlib",
)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """Ordered facts for the results header."""
    cpus = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = cpus
    facts = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {cpus} CPUs ({usable} usable), {platform.machine()}",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    facts |= {name: _version(name) for name in PACKAGES}
    with contextlib.suppress(OSError):
        facts["load average (1 min) at start"] = f"{os.getloadavg()[0]:.2f}"
    return facts
