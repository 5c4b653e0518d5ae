"""Performance section: sync planning at 100k, the CLI's dry run of a large file, simulator adds.

Every measurement runs in a fresh interpreter (peak RSS is the process's
``VmHWM``), the package "before" (``bench.baseline``) and "after" (this
checkout) interleaved, best of ``repeats``. Run alone:
``python -m bench.sections.perf.planning`` prints the Markdown section.
"""

from __future__ import annotations

import asyncio
import random
import string
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import BENCH, baseline
from bench.sections.perf._planning_scripts import ADDS, CLI, PLAN, PREFIXED

__all__ = ["section"]

ACCOUNT = 1_000
"""Contacts in the account the CLI's dry run lists; the file's rows cycle through them."""
PREVIOUS_INDEX = "926b228c5cedc29ba6c20d96ee880ae83a1f4641"
"""The deletion-neighbourhood index before its growth was made incremental."""
PREFIX_ONLY_INDEX = "220bb984a0d6deb7df08094cc3a8cf02cf370686"
"""The index before crowded keys and tail keys: every key on a long name's first 8 characters."""


def _best(
    repeats: int, sides: dict[str, Callable[[], tuple[float, ...]]]
) -> dict[str, tuple[float, ...]]:
    """Each side ``repeats`` times, interleaved; the element-wise minimum of each side's results."""
    best: dict[str, tuple[float, ...]] = {}
    for _ in range(repeats):
        for name, run in sides.items():
            got = run()
            best[name] = tuple(map(min, best.get(name, got), got))
    return best


def _plan(root: Path | None, size: int) -> Callable[[], tuple[float, ...]]:
    def run() -> tuple[float, ...]:
        cpu, peak, _ = baseline.python(PLAN, root, str(size)).split()
        return float(cpu), float(peak)

    return run


def _prefixed(root: Path | None, size: int) -> Callable[[], tuple[float, ...]]:
    def run() -> tuple[float, ...]:
        added, looked = baseline.python(PREFIXED, root, str(size)).split()
        return float(added), float(looked)

    return run


def _adds(root: Path | None, size: int) -> Callable[[], tuple[float, ...]]:
    def run() -> tuple[float, ...]:
        worst, total = baseline.python(ADDS, root, str(size)).split()
        return float(worst), float(total)

    return run


async def _dry_runs(
    plans: Sequence[tuple[str, Path | None, int]], repeats: int, folder: Path
) -> dict[str, float]:
    """Peak RSS bytes of ``contacts sync --dry-run`` per (label, package root, rows), best of."""
    from billabex_async.testing import FakeBillabex

    best: dict[str, float] = {}
    async with FakeBillabex(rate_limit=None) as fake:
        people = [
            ("".join(random.Random(i).choices(string.ascii_lowercase, k=8)).title(), f"p{i}@x.io")
            for i in range(ACCOUNT)
        ]
        for name, email in people:
            fake.add_contact(fake.account_id, full_name=name, email=email)
        files: dict[int, Path] = {}
        for _, _, rows in plans:
            if rows not in files:
                files[rows] = folder / f"rows-{rows}.csv"
                with files[rows].open("w", encoding="utf-8") as handle:
                    handle.write("full_name,language,email\n")
                    for i in range(rows):
                        name, email = people[i % ACCOUNT]
                        handle.write(f"{name},en,{email}\n")
        for _ in range(repeats):
            for label, root, rows in plans:
                env = baseline.env(root) | {
                    "BILLABEX_BASE_URL": fake.url,
                    "BILLABEX_TOKEN": fake.token,
                    "NO_COLOR": "1",
                }
                # cwd: not the checkout's root, whose package would shadow the baseline's.
                child = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", CLI, str(fake.account_id), str(files[rows]),
                    env=env, cwd=BENCH,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                out, _ = await child.communicate()
                peak = float(out.decode().rsplit("PEAK", 1)[1])
                assert child.returncode == 0, child.returncode
                best[label] = min(best.get(label, peak), peak)
    return best


def section(quick: bool = False) -> str:
    """The Markdown section: planning, the CLI's dry run and the simulator's adds, before/after."""
    before = baseline.checkout()
    previous = baseline.checkout(PREVIOUS_INDEX)
    repeats = 1 if quick else 3
    small, large = (2_000, 10_000) if quick else (10_000, 100_000)
    rows_small, rows_large = (10_000, 20_000) if quick else (100_000, 1_000_000)
    adds = 10_000 if quick else 100_000

    plan_sides = {"after small": _plan(None, small)}
    if before is not None:
        plan_sides["before small"] = _plan(before, small)
    plan = _best(repeats, plan_sides)
    plan |= _best(1 if quick else 2, {"after large": _plan(None, large)})

    dry_plans: list[tuple[str, Path | None, int]] = [
        ("after small", None, rows_small),
        ("after large", None, rows_large),
    ]
    if before is not None:
        dry_plans.append(("before small", before, rows_small))
    with tempfile.TemporaryDirectory() as folder:
        dry = asyncio.run(_dry_runs(dry_plans, 1 if quick else 2, Path(folder)))

    add_sides = {"after": _adds(None, adds)}
    if before is not None:
        add_sides["before"] = _adds(before, adds)
    if previous is not None:
        add_sides["previous"] = _adds(previous, adds)
    add = _best(repeats, add_sides)

    shared = 1_000 if quick else 3_000
    prefix_sides = {"after": _prefixed(None, shared)}
    if before is not None:
        prefix_sides["before"] = _prefixed(before, shared)
    prefix_only = None if quick else baseline.checkout(PREFIX_ONLY_INDEX)
    if prefix_only is not None:  # ~45 s at 3,000: once, outside the repeats
        prefix_sides["prefix only"] = _prefixed(prefix_only, shared)
    prefixed = _best(repeats, {k: v for k, v in prefix_sides.items() if k != "prefix only"})
    if "prefix only" in prefix_sides:
        prefixed["prefix only"] = prefix_sides["prefix only"]()

    def mb(value: float) -> str:
        return f"{value / 2**20:,.0f} MB"

    def cell(result: tuple[float, ...] | None, text: Callable[[tuple[float, ...]], str]) -> str:
        return "–" if result is None else text(result)

    planned = cell(plan.get("before small"), lambda r: f"{r[0]:.2f} s, {mb(r[1])} (at {small:,})")
    plan_after = (
        f"{plan['after small'][0]:.2f} s, {mb(plan['after small'][1])} (at {small:,}); "
        f"{plan['after large'][0]:.2f} s, {mb(plan['after large'][1])} (at {large:,})"
    )
    dry_before = cell(
        (dry["before small"],) if "before small" in dry else None,
        lambda r: f"{mb(r[0])} (at {rows_small:,} rows)",
    )
    dry_after = (
        f"{mb(dry['after small'])} (at {rows_small:,} rows); "
        f"{mb(dry['after large'])} (at {rows_large:,} rows)"
    )

    def worst(r: tuple[float, ...]) -> str:
        return f"{r[0] * 1e3:,.1f} ms (all {adds:,}: {r[1]:.1f} s)"

    add_before = cell(add.get("before"), worst)
    if "previous" in add:
        add_before += f"; index before incremental growth: {worst(add['previous'])}"

    def both(r: tuple[float, ...]) -> str:
        return f"{r[0] + r[1]:.2f} s ({r[0]:.2f} + {r[1]:.3f})"

    prefix_before = cell(prefixed.get("before"), both)
    if "prefix only" in prefixed:
        prefix_before += f"; index keyed on the first 8 only: {both(prefixed['prefix only'])}"
    lines = [
        "### Sync planning, large files and the simulator's index growth",
        "",
        f"Each figure from a fresh interpreter, before (`{baseline.BASELINE[:8]}`) and after"
        f" interleaved, best of {repeats} (CPU seconds by `time.process_time`, peak RSS by"
        " `VmHWM`); the dry run lists an account of"
        f" {ACCOUNT:,} contacts whose rows the file repeats.",
        "",
        "| what | before | after |",
        "|---|---:|---:|",
        f"| sync planning {large // 1000}k x {large // 1000}k no emails (CPU s, peak MB);"
        f" before is quadratic (~880 s at 100k), so measured at {small:,}"
        f" | {planned} | {plan_after} |",
        f"| {rows_large // 1000:,}k-row CSV dry run peak RSS (`contacts sync --dry-run`)"
        f" | {dry_before} | {dry_after} |",
        f"| simulator worst single add at {adds // 1000}k (`FakeBillabex.add_contact`)"
        f" | {add_before} | {worst(add['after'])} |",
        f"| {shared:,} names sharing an 8-char prefix: insert all + {shared // 10:,} lookups"
        f" (CPU s: adds + lookups; before scans every name) | {prefix_before}"
        f" | {both(prefixed['after'])} |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(section("--quick" in sys.argv[1:]))
