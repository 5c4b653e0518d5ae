"""Benchmarks of billabex_async: ``python -m bench`` runs them; ``--help`` lists the sections."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCH", "OUT", "ROOT"]

ROOT = Path(__file__).resolve().parent.parent
"""The checkout: its ``billabex_async`` is the "after" side of every comparison."""
BENCH = ROOT / "bench"
"""Where results.md and the charts live (the README links to them)."""
OUT = BENCH / "out"
"""Partial and smoke runs, and the extracted baseline packages: never committed."""
