"""Performance section: what importing billabex_async costs next to ``import aiohttp``.

Three statements, each in a fresh interpreter (bytecode cached, as installed):

- ``import billabex_async``: the package alone, which loads its names lazily;
- ``from billabex_async import BillabexClient``: what a web backend pays before
  its first request, aiohttp included. **The target is judged on this row**;
- the same, then ``BillabexClient(token=...)`` (no request is sent).

Each sample reports two figures. *Fresh*: the statement alone, timed with
``time.perf_counter`` (wall) and ``time.process_time`` (CPU) around it.
*After aiohttp*: in another interpreter that has imported aiohttp first, the
statement's own cost: our share, measured directly rather than as the
difference of two noisy totals. The contenders (aiohttp alone, each
statement before and after) take turns, best of N; a warm-up round first, so
no sample pays for writing ``.pyc`` files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import BENCH, OUT, _private, baseline

__all__ = ["STATEMENTS", "TARGET", "Sample", "measure", "section"]

PYCACHE = OUT / "pycache"

# Label -> statement. TARGET is the row the "within 30 ms" is judged on.
STATEMENTS = {
    "`import billabex_async`": "import billabex_async",
    "`from billabex_async import BillabexClient`": "from billabex_async import BillabexClient",
    "... then `BillabexClient(token=...)`": (
        "from billabex_async import BillabexClient\nBillabexClient(token='t' * 20)"
    ),
}
TARGET = "`from billabex_async import BillabexClient`"
AIOHTTP = "import aiohttp"

# What a web backend never needs before its first request: the high-volume
# layers, the matcher and its C extension, the simulator, the OAuth login
# flow, and cattrs (loaded by the first structure or unstructure).
DEFERRED = (
    "billabex_async.bulk",
    "billabex_async.sync",
    _private.MATCHING_MODULE,
    "rapidfuzz",
    "billabex_async.testing",
    "aiohttp.web",
    "cattrs",
    "opentelemetry",
)

_PROBE = """
import sys, time
{preload}
modules = len(sys.modules)
started, cpu = time.perf_counter(), time.process_time()
{statement}
spent, cpu = time.perf_counter() - started, time.process_time() - cpu
deferred = {deferred!r}
loaded = ",".join(m for m in deferred if m in sys.modules)
print(spent, cpu, len(sys.modules) - modules, loaded or "-")
"""


class Sample:
    """One contender's best figures: wall and CPU seconds, modules the statement added."""

    __slots__ = ("cpu", "loaded", "modules", "seconds")

    def __init__(self) -> None:
        self.seconds = float("inf")
        self.cpu = float("inf")
        self.modules = 0
        self.loaded = ""

    def __repr__(self) -> str:
        return f"Sample(seconds={self.seconds:.4f}, cpu={self.cpu:.4f}, modules={self.modules})"


def _env(root: Path | None) -> dict[str, str]:
    """Bytecode cached (in bench/out/) as an installed package has it, for every side alike."""
    env = baseline.env(root)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _once(statement: str, root: Path | None, sample: Sample, *, after_aiohttp: bool) -> bool:
    """One fresh interpreter; False when the statement fails there (an older package)."""
    code = _PROBE.format(
        preload=AIOHTTP if after_aiohttp else "", statement=statement, deferred=DEFERRED
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(root), cwd=BENCH, capture_output=True, text=True
    )
    if done.returncode != 0:
        return False
    seconds, cpu, modules, loaded = done.stdout.split()
    sample.seconds = min(sample.seconds, float(seconds))
    sample.cpu = min(sample.cpu, float(cpu))
    sample.modules = int(modules)
    sample.loaded = "" if loaded == "-" else loaded
    return True


# (side, statement label, after aiohttp) -> best sample; ("aiohttp", AIOHTTP, False) for the base.
Key = tuple[str, str, bool]


def measure(repeats: int) -> dict[Key, Sample]:
    """Best of ``repeats`` interleaved fresh interpreters per contender; failed ones left out."""
    before = baseline.checkout()
    sides: dict[str, Path | None] = {} if before is None else {"before": before}
    sides["after"] = None
    contenders: dict[Key, tuple[str, Path | None]] = {("aiohttp", AIOHTTP, False): (AIOHTTP, None)}
    for side, root in sides.items():
        for label, statement in STATEMENTS.items():
            for after_aiohttp in (False, True):
                contenders[(side, label, after_aiohttp)] = (statement, root)
    samples: dict[Key, Sample] = {}
    for key, (statement, root) in contenders.items():  # warm-up: .pyc files written
        if _once(statement, root, Sample(), after_aiohttp=key[2]):
            samples[key] = Sample()
    for _ in range(repeats):
        for key, sample in samples.items():
            statement, root = contenders[key]
            _once(statement, root, sample, after_aiohttp=key[2])
    return samples


def section(quick: bool = False) -> str:
    """The Markdown section: import time before and after, against aiohttp's own."""
    repeats = 2 if quick else 20
    s = measure(repeats)
    base = s[("aiohttp", AIOHTTP, False)]

    def cell(side: str, label: str, after_aiohttp: bool, fmt: str) -> str:
        x = s.get((side, label, after_aiohttp))
        if x is None:
            return "—"
        return {
            "cpu": f"{x.cpu * 1e3:.1f}",
            "wall": f"{x.seconds * 1e3:.1f}",
            "cpu+": f"{(x.cpu - base.cpu) * 1e3:+.1f}",
            "wall+": f"{(x.seconds - base.seconds) * 1e3:+.1f}",
            "modules": f"{x.modules}",
        }[fmt]

    figures = [
        ("CPU ms, fresh", False, "cpu"),
        ("CPU ms over `import aiohttp` (fresh − aiohttp's)", False, "cpu+"),
        ("**CPU ms after `import aiohttp`**, same interpreter", True, "cpu"),
        ("wall ms, fresh", False, "wall"),
        ("wall ms over `import aiohttp`", False, "wall+"),
        ("wall ms after `import aiohttp`", True, "wall"),
        ("modules added after `import aiohttp`", True, "modules"),
    ]
    lines = [
        "### `import billabex_async` and `from billabex_async import BillabexClient`",
        "",
        "A fresh interpreter per sample (bytecode cached, as installed); best of"
        f" {repeats} interleaved samples per cell. `import aiohttp` alone:"
        f" {base.seconds * 1e3:.1f} ms wall, {base.cpu * 1e3:.1f} ms CPU,"
        f" {base.modules} modules. The target (within 30 ms of `import aiohttp`) is judged"
        f" on the {TARGET} row: CPU after `import aiohttp` in the same interpreter, the"
        " statement's own cost; the fresh-interpreter difference is given beside it.",
        "",
    ]
    for label in STATEMENTS:
        lines += [f"| {label} | before | after |", "|---|---:|---:|"]
        lines += [
            f"| {name} | {cell('before', label, warm, fmt)} | {cell('after', label, warm, fmt)} |"
            for name, warm, fmt in figures
        ]
        lines.append("")
    lines.append(
        f"Loaded by {TARGET} then construction, of {', '.join(f'`{m}`' for m in DEFERRED)}:"
        f" before {_loaded(s.get(('before', list(STATEMENTS)[2], False)))};"
        f" after {_loaded(s.get(('after', list(STATEMENTS)[2], False)))}."
        " (`opentelemetry` loads at construction when opentelemetry-api is installed, and"
        " telemetry is on: the default.)"
    )
    return "\n".join(lines)


def _loaded(sample: Sample | None) -> str:
    if sample is None:
        return "—"
    names = [n for n in sample.loaded.split(",") if n]
    return ", ".join(f"`{n}`" for n in names) if names else "none"


if __name__ == "__main__":
    print(section(quick="--quick" in sys.argv[1:]))
