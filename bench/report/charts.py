"""Report: the charts, the rate-limited run (requests per second over time) and matching."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billabex_async import RateLimit

if TYPE_CHECKING:  # the sections import this module to draw; only their types come back
    from bench.sections.limited import LimitedRun

__all__ = ["draw_matching", "draw_ratelimited"]

BIN = 0.25  # seconds per bar
_COLOURS = ["#1f77b4", "#7f7f7f", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]


def _rates(times: Sequence[float], end: float) -> list[float]:
    """Requests per second in consecutive BIN-wide bins from 0 to ``end``."""
    counts = [0] * max(1, math.ceil(end / BIN))
    for t in times:
        counts[min(int(t / BIN), len(counts) - 1)] += 1
    return [c / BIN for c in counts]


def _allowed(t: float, limit: RateLimit, n: int) -> int:
    """The most admitted requests a sliding window permits by time ``t`` (from an empty window)."""
    return min(n, limit.requests * (math.floor(t / limit.window) + 1))


def draw_ratelimited(runs: Sequence[LimitedRun], limit: RateLimit, path: Path) -> None:
    """Top: admitted upserts over time per contender; below: one row of requests/s each."""
    plt = _pyplot()
    end = max((max([*r.ok_times, *r.rejected_times], default=0.0) for r in runs), default=1.0)
    end = max(end + BIN, limit.window)
    heights = [3.0] + [1.0] * len(runs)
    fig, axes = plt.subplots(
        len(runs) + 1,
        1,
        figsize=(10, 3.2 + 1.25 * len(runs)),
        sharex=True,
        gridspec_kw={"height_ratios": heights},
    )
    top = axes[0]
    n = max(r.items for r in runs)
    steps = [i * 0.01 for i in range(int(end / 0.01) + 1)]
    top.plot(
        steps, [_allowed(t, limit, n) for t in steps], "k:", lw=1, label="most the limit allows"
    )
    for run, colour in zip(runs, _COLOURS, strict=False):
        xs = [0.0, *run.ok_times]
        top.step(xs, range(len(xs)), where="post", color=colour, lw=1.8, label=_legend(run))
        if run.rejected_times:
            heights_at = [sum(1 for t in run.ok_times if t <= x) for x in run.rejected_times]
            top.plot(run.rejected_times, heights_at, "x", color="red", ms=4, alpha=0.6)
    top.plot([], [], "x", color="red", label="429 received")
    top.set_ylabel("upserts stored")
    top.set_title(
        f"{n} upserts against a sliding window of {limit.requests} requests per "
        f"{limit.window:g} s (server-side arrivals)"
    )
    top.legend(loc="lower right", fontsize=8)
    top.grid(alpha=0.3)

    lefts = [i * BIN for i in range(math.ceil(end / BIN))]
    for ax, run, colour in zip(axes[1:], runs, _COLOURS, strict=False):
        ok = _rates(run.ok_times, end)
        rejected = _rates(run.rejected_times, end)
        ax.bar(lefts, ok, width=BIN, align="edge", color=colour, alpha=0.85)
        ax.bar(lefts, rejected, width=BIN, align="edge", bottom=ok, color="red", alpha=0.85)
        ax.axhline(limit.requests / limit.window, color="k", ls="--", lw=0.8)
        # Each row on its own scale: a burst of 429s would flatten the others.
        peak = max(a + b for a, b in zip(ok, rejected, strict=True))
        ax.set_ylim(0, max(peak, limit.requests / limit.window) * 1.25)
        ax.set_ylabel("req/s", fontsize=8)
        ax.text(
            0.995,
            0.92,
            f"{run.key}: {run.requests} requests, {run.rejected} × 429, {run.audit.lost} lost",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
        )
        ax.tick_params(labelsize=8)
    axes[-1].set_xlabel(f"seconds since the first request (bars: {BIN:g} s; dashed: limit/window)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _legend(run: LimitedRun) -> str:
    return f"{run.key}. {run.label}: {run.wall:.1f} s"


def _pyplot() -> Any:
    """matplotlib's pyplot drawing into files only (the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def draw_matching(results: dict[str, dict[int, float]], path: Path) -> bool:
    """The lookup-time chart into ``path``; False without matplotlib (the ``bench`` extra)."""
    try:
        plt = _pyplot()
    except ImportError:
        return False

    labels = {
        "brute force": "brute-force scan (every name)",
        "before": "before: length-bucket scan",
        "after": "after: deletion-neighbourhood index",
    }
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, by_size in results.items():
        sizes = sorted(by_size)
        axes.plot(sizes, [by_size[s] * 1e6 for s in sizes], marker="o", label=labels[name])
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("contacts in the account")
    axes.set_ylabel("µs per lookup (new email, name decides)")
    axes.set_title("Fuzzy-name lookup time vs account size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
