"""Performance section: the cost of ``import billabex_async`` next to ``import aiohttp``.

Each sample is a fresh interpreter that imports one thing and reports the
time the import statement took (``time.perf_counter`` around it) and
``-X importtime``'s cumulative figure for the top module. The three
contenders (aiohttp alone, the package before, the package now) take turns,
best of N; a warm-up round first so no sample pays for writing ``.pyc`` files.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import BENCH, OUT, _private, baseline

__all__ = ["Sample", "measure", "section"]

PYCACHE = OUT / "pycache"

# What a web backend never needs at import time: the high-volume layers,
# the matcher and its C extension, the simulator, the OAuth login flow.
DEFERRED = (
    "billabex_async.bulk",
    "billabex_async.sync",
    _private.MATCHING_MODULE,
    "rapidfuzz",
    "billabex_async.testing",
    "aiohttp.web",
)

_PROBE = """
import sys, time
started, cpu = time.perf_counter(), time.process_time()
import {module}
spent, cpu = time.perf_counter() - started, time.process_time() - cpu
deferred = {deferred!r}
print(spent, cpu, len(sys.modules), ",".join(m for m in deferred if m in sys.modules))
"""


class Sample:
    """One contender's best figures: seconds for the import, -X importtime's µs, modules loaded."""

    __slots__ = ("cpu", "importtime_us", "loaded", "modules", "seconds")

    def __init__(self) -> None:
        self.seconds = float("inf")
        self.cpu = float("inf")
        self.importtime_us = float("inf")
        self.modules = 0
        self.loaded = ""

    def __repr__(self) -> str:
        return f"Sample(seconds={self.seconds:.4f}, importtime_us={self.importtime_us:.0f})"


def _env(root: Path | None) -> dict[str, str]:
    """Bytecode cached (in bench/out/) as an installed package has it, for every side alike."""
    env = baseline.env(root)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _once(module: str, root: Path | None, sample: Sample, *, importtime: bool) -> None:
    """One fresh interpreter; with ``importtime``, ``-X importtime``'s figure only.

    The two are separate runs: ``-X importtime`` slows every import it reports.
    """
    code = _PROBE.format(module=module, deferred=DEFERRED)
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [sys.executable, *flags, "-c", code],
        env=_env(root),
        cwd=BENCH,
        capture_output=True,
        text=True,
        check=True,
    )
    if not importtime:
        seconds, cpu, modules, loaded = [*done.stdout.split(), ""][:4]
        sample.seconds = min(sample.seconds, float(seconds))
        sample.cpu = min(sample.cpu, float(cpu))
        sample.modules = int(modules)
        sample.loaded = loaded
        return
    for line in done.stderr.splitlines():  # "import time: self | cumulative | name"
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            sample.importtime_us = min(sample.importtime_us, float(parts[1]))


def measure(repeats: int) -> dict[str, Sample]:
    """Best of ``repeats`` interleaved fresh interpreters per contender."""
    before = baseline.checkout()
    contenders: dict[str, tuple[str, Path | None]] = {"aiohttp": ("aiohttp", None)}
    if before is not None:
        contenders["before"] = ("billabex_async", before)
    contenders["after"] = ("billabex_async", None)
    samples = {name: Sample() for name in contenders}
    for module, root in contenders.values():  # warm-up: .pyc files written
        _once(module, root, Sample(), importtime=False)
    for _ in range(repeats):
        for importtime in (False, True):
            for name, (module, root) in contenders.items():
                _once(module, root, samples[name], importtime=importtime)
    return samples


def section(quick: bool = False) -> str:
    """The Markdown section: import time before and after, against aiohttp's own."""
    repeats = 2 if quick else 20
    s = measure(repeats)
    base, after = s["aiohttp"], s["after"]
    before = s.get("before")

    def row(label: str, fmt: Callable[[Sample], str]) -> str:
        cells = ["—" if before is None else fmt(before), fmt(after)]
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [
        "### `import billabex_async`",
        "",
        f"A fresh interpreter per sample (bytecode cached, as installed) imports one module;"
        f" best of {repeats} interleaved samples per cell, `-X importtime` in separate runs"
        " since it slows what it reports. `import aiohttp` alone:"
        f" {base.seconds * 1e3:.1f} ms wall, {base.cpu * 1e3:.1f} ms CPU,"
        f" {base.importtime_us / 1e3:.1f} ms by `-X importtime`, {base.modules} modules.",
        "",
        "| `import billabex_async` | before | after |",
        "|---|---:|---:|",
        row("CPU ms (process_time)", lambda x: f"{x.cpu * 1e3:.1f}"),
        row("CPU ms over `import aiohttp`", lambda x: f"{(x.cpu - base.cpu) * 1e3:+.1f}"),
        row("wall ms (perf_counter)", lambda x: f"{x.seconds * 1e3:.1f}"),
        row("wall ms over `import aiohttp`", lambda x: f"{(x.seconds - base.seconds) * 1e3:+.1f}"),
        row("`-X importtime` ms", lambda x: f"{x.importtime_us / 1e3:.1f}"),
        row(
            "`-X importtime` ms over `import aiohttp`",
            lambda x: f"{(x.importtime_us - base.importtime_us) / 1e3:+.1f}",
        ),
        row("modules in `sys.modules`", lambda x: f"{x.modules}"),
        "",
        f"Loaded by the import, of {', '.join(f'`{m}`' for m in DEFERRED)}: before"
        f" {_loaded(before)}; after {_loaded(after)}.",
    ]
    return "\n".join(lines)


def _loaded(sample: Sample | None) -> str:
    if sample is None:
        return "—"
    names: Sequence[str] = [n for n in sample.loaded.split(",") if n]
    return ", ".join(f"`{n}`" for n in names) if names else "none"


if __name__ == "__main__":
    print(section())
