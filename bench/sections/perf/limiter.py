"""Performance section: the rate limiter's header correction and the default concurrency.

Every run is a fresh FakeBillabex and client in a subprocess that imports
either the baseline package (``baseline.checkout()``) or this checkout's,
the two sides interleaved run by run. A "slot held that the server already
freed" is a request the limiter counted as someone else's (the
``server counts N requests we did not send`` DEBUG line) in a run where
nobody else spends the token: every one of them is a false hold.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import baseline
from bench.sections.perf._limiter_scripts import RUN, VIRTUAL

__all__ = ["section"]


@dataclass(frozen=True, slots=True)
class Setup:
    """One scenario: a limit of ``limit`` per ``window`` s, ``latency`` s per request."""

    limit: int
    window: float
    latency: float
    items: int
    concurrency: int | None = None  # None: the package's default
    foreign: float = 0.0  # share of the limit another consumer spends

    def args(self) -> list[str]:
        concurrency = "" if self.concurrency is None else str(self.concurrency)
        return [
            str(self.limit),
            str(self.window),
            str(self.latency),
            str(self.items),
            concurrency,
            str(self.foreign),
        ]

    def ideal(self) -> float:
        """An ideal client's utilisation: each window's slots at once, held latency + window."""
        cycles = -(-self.items // self.limit) - 1  # the windows after the first
        rate = (self.items - self.limit) / (cycles * (self.window + self.latency))
        return rate / (self.limit / self.window)


Run = dict[str, float]


def _runs(setup: Setup, roots: dict[str, Path | None], repeats: int) -> dict[str, list[Run]]:
    """``repeats`` runs of ``setup`` per side, the sides interleaved."""
    out: dict[str, list[Run]] = {side: [] for side in roots}
    for _ in range(repeats):
        for side, root in roots.items():
            line = baseline.python(RUN, root, *setup.args(), timeout=600)
            out[side].append(json.loads(line.strip().splitlines()[-1]))
    return out


def section(quick: bool = False) -> str:
    """The Markdown section: header correction and default concurrency, before and after."""
    base = baseline.checkout()
    roots: dict[str, Path | None] = {"after": None}
    if base is not None:
        roots = {"before": base, "after": None}
    if quick:  # the same shapes, scaled down to a few seconds
        fast = Setup(limit=40, window=0.5, latency=0.005, items=120, concurrency=8)
        foreign = Setup(40, 0.5, 0.005, 120, concurrency=8, foreign=0.2)
        slow = Setup(limit=40, window=1.0, latency=0.1, items=80)
        repeats, others = 1, 1
        seeds, requests = 1, 300
    else:
        fast = Setup(limit=100, window=2.0, latency=0.005, items=400, concurrency=8)
        foreign = Setup(100, 2.0, 0.005, 400, concurrency=8, foreign=0.2)
        slow = Setup(limit=100, window=2.0, latency=0.2, items=400)
        repeats, others = 7, 3
        seeds, requests = 5, 1000
    fast_runs = _runs(fast, roots, repeats)
    foreign_runs = _runs(foreign, roots, others)
    slow_runs = _runs(slow, roots, others)
    ideal = slow.ideal()
    virtual = {
        side: json.loads(baseline.python(VIRTUAL, root, str(seeds), str(requests)))
        for side, root in roots.items()
    }

    def row(label: str, cell: Callable[[str], str]) -> str:
        cells = [cell(side) for side in roots]
        if len(cells) == 1:
            cells.insert(0, "n/a")
        return f"| {label} | {cells[0]} | {cells[1]} |"

    def steady(side: str) -> str:
        scores = sorted(r["steady"] for r in fast_runs[side])
        return f"{scores[0]:.3f} / {statistics.median(scores):.3f}"

    def held(side: str) -> str:
        per = [r["held"] / r["requests"] * 1000 for r in fast_runs[side]]
        return f"{statistics.median(per):.1f} (max {max(per):.1f})"

    def rejected(runs: dict[str, list[Run]]) -> Callable[[str], str]:
        return lambda side: str(sum(int(r["rejected"]) for r in runs[side]))

    def foreign_share(side: str) -> str:
        # Ours over what the other consumer leaves us; the first window's
        # slots, taken before it is seen, are left out as everywhere else.
        left = 1 - foreign.foreign
        scores = sorted(r["steady"] / left for r in foreign_runs[side])
        return f"{scores[0]:.2f} / {statistics.median(scores):.2f}"

    def late(kind: str) -> Callable[[str], str]:
        def cell(side: str) -> str:
            runs = virtual[side]
            return " · ".join(
                f"{share:.0%}: {runs[f'{kind} {share}'][0]} ({runs[f'{kind} {share}'][1]})"
                for share in (0.1, 0.2, 0.4)
            )

        return cell

    def left_to_us(kind: str) -> Callable[[str], str]:
        def cell(side: str) -> str:
            runs = virtual[side]
            return " · ".join(
                f"{share:.0%}: {runs[f'{kind} {share}'][2]:.2f}" for share in (0.1, 0.2, 0.4)
            )

        return cell

    def against_ideal(side: str) -> str:
        best = max(r["utilisation"] for r in slow_runs[side])
        return f"{best:.3f} ({best / ideal:.2f} of ideal)"

    lines = [
        "### Rate limiter: header correction and default concurrency",
        "",
        f"Fresh FakeBillabex and `bulk_upsert` per run, each in its own process, before "
        f"({baseline.BASELINE[:7]}) and after interleaved run by run; utilisation is the "
        "admitted requests past the first window's, per second, over the limit (at 5 ms "
        "counted from the first window's last arrival, so the CPU time of sending a "
        "window's worth, which the last window repeats, is left out). The virtual-time rows "
        "run the limiter alone against a simulated server, deterministic per seed.",
        "",
        "| measure | before | after |",
        "|---|---|---|",
        row(
            f"utilisation at {fast.latency * 1000:g} ms latency ({fast.limit} / {fast.window:g} s, "
            f"{fast.items} upserts, concurrency {fast.concurrency}), {repeats} runs: min / median",
            steady,
        ),
        row(
            "slots held the server already freed per 1,000 requests, same runs: median (max)",
            held,
        ),
        row(f"429s in those {repeats} runs", rejected(fast_runs)),
        row(
            f"429s with a foreign consumer spending {foreign.foreign:.0%} of the limit, "
            f"{others} runs",
            rejected(foreign_runs),
        ),
        row(
            f"utilisation with that consumer, ours over the {1 - foreign.foreign:.0%} it "
            f"leaves us, same runs: min / median",
            foreign_share,
        ),
        row(
            f"virtual time, a steady foreign consumer at 10 / 20 / 40 % of 100 / 2 s, "
            f"{seeds} runs of {requests} each: 429s after 3 windows (all 429s)",
            late("steady"),
        ),
        row("same, a Poisson foreign consumer", late("poisson")),
        row(
            "virtual time, utilisation of the share left to us, steady consumer: min",
            left_to_us("steady"),
        ),
        row("same, Poisson consumer: min", left_to_us("poisson")),
        row(
            f"utilisation at {slow.latency * 1000:g} ms latency ({slow.limit} / {slow.window:g} s, "
            f"{slow.items} upserts), default concurrency, best of {others}, vs ideal {ideal:.3f}",
            against_ideal,
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(section(quick="--quick" in sys.argv[1:]))
