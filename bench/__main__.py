"""Bench entry point: python -m bench runs every section, --only some of them.

With no option (``make bench``) it runs sections 1 to 5 (ours against the
alternatives) and the "Performance at scale" sections (before/after), and
rewrites bench/results.md, bench/ratelimited.png and bench/matching.png;
minutes to an hour. ``--only`` takes comma-separated sections:

- ``limited``, ``throughput``, ``resync``, ``memory``, ``models`` (or 1 to 5):
  written to bench/out/results.md (with ``perf``, its part is added);
- ``perf`` alone: replaces that part of bench/results.md and nothing else;
- ``simulator``, ``redis``, ``fleet``: print their own table (``make bench-simulator``,
  ``make bench-redis``; ``fleet``: 200 tenants in one process, pooled or not);
  options after the section name go to it
  (``python -m bench --only simulator --requests 2000``).

``--quick`` runs whatever was chosen at smoke sizes (seconds to a minute
each), into bench/out/: a check that everything runs, not figures to quote.

Needs the ``bench`` extra: ``pip install -e '.[dev,redis,bench]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import BENCH, OUT
from bench.report.splice import splice

__all__ = ["NUMBERED", "SECTIONS", "STANDALONE", "Plan", "main", "parse", "write_results"]

NUMBERED = {"limited": 1, "throughput": 2, "resync": 3, "memory": 4, "models": 5}
"""Sections 1 to 5 by name; their numbers are the headings of results.md."""
STANDALONE = ("simulator", "redis", "fleet")
"""Sections that print their own table rather than write results.md."""
ALL = (*NUMBERED, "perf")
"""What a run with no ``--only`` measures (``make bench``)."""
SECTIONS = (*ALL, *STANDALONE)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one invocation runs, and where its results go."""

    numbered: frozenset[int] = frozenset()
    perf: bool = False
    standalone: tuple[str, ...] = ()
    quick: bool = False
    out: Path = BENCH
    """The directory results.md (and the ratelimited chart) is written to."""
    splice_only: bool = False
    """Only the perf part of an existing results.md is replaced."""
    extra: tuple[str, ...] = field(default=())
    """Options for the one standalone section."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=f"sections: {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--only",
        metavar="SECTIONS",
        help="comma-separated sections (names, or 1-5); output goes to bench/out/,"
        " except for perf alone, which updates its part of bench/results.md",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke sizes, into bench/out/: not figures to quote",
    )
    return parser


def _section(part: str) -> str:
    """A section's canonical name; ValueError for an unknown one."""
    by_number = {str(number): name for name, number in NUMBERED.items()}
    name = by_number.get(part, part)
    if name not in SECTIONS:
        raise ValueError(part)
    return name


def parse(argv: Sequence[str] | None = None) -> Plan:
    """The plan for ``argv``; exits with a usage message (status 2) when it makes no sense."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if not args.only:
        names: list[str] = list(ALL)
    else:
        try:
            names = [_section(p.strip()) for p in args.only.split(",") if p.strip()]
        except ValueError as exc:
            parser.error(f"unknown section {exc}; the sections: {', '.join(SECTIONS)}")
        if not names:
            parser.error("--only needs at least one section")
    standalone = tuple(name for name in STANDALONE if name in names)
    numbered = frozenset(NUMBERED[name] for name in names if name in NUMBERED)
    perf = "perf" in names
    if extra and len(standalone) != 1:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    splice_only = perf and not numbered
    # Only the full run, or perf's full run alone, touches the committed results.
    out = BENCH if (not args.only or splice_only) and not args.quick else OUT
    return Plan(
        numbered=numbered,
        perf=perf,
        standalone=standalone,
        quick=args.quick,
        out=out,
        splice_only=splice_only,
        extra=tuple(extra),
    )


def _perf_text(quick: bool) -> str:
    from bench.sections.perf import perf_sections

    return perf_sections(quick, say)


def _numbered_text(sections: frozenset[int], out: Path, quick: bool) -> str:
    from bench.report.render import render
    from bench.sections.numbered import QUICK_SETTINGS, SETTINGS, run

    settings = QUICK_SETTINGS if quick else SETTINGS
    return render(asyncio.run(run(set(sections), out, settings)))


def _standalone(name: str) -> Callable[[Sequence[str]], int]:
    if name == "simulator":
        from bench.sections.simulator import main as simulator

        return simulator
    if name == "fleet":
        from bench.sections.fleet import main as fleet

        return fleet
    from bench.sections.redis import main as redis

    return redis


def write_results(plan: Plan) -> Path | None:
    """Run the sections that write results.md, and write it; its path (None: none ran)."""
    if not plan.numbered and not plan.perf:
        return None
    plan.out.mkdir(parents=True, exist_ok=True)
    target = plan.out / "results.md"
    if plan.splice_only:
        document = target.read_text() if target.exists() else ""
    else:
        document = _numbered_text(plan.numbered, plan.out, plan.quick)
    if plan.perf:
        document = splice(document, _perf_text(plan.quick))
    target.write_text(document)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse(argv)
    started = time.perf_counter()
    target = write_results(plan)
    if target is not None:
        say(f"wrote {target} in {time.perf_counter() - started:.0f} s")
    status = 0
    for name in plan.standalone:
        options = [*plan.extra, *(["--quick"] if plan.quick else [])]
        status = max(status, _standalone(name)(options))
    return status


if __name__ == "__main__":
    sys.exit(main())
