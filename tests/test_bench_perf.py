"""bench/: every ``_perf_*`` module has the ``section(quick)`` interface, and run.py's splice
replaces the "Performance at scale" part of results.md and nothing else.

Nothing here is timed: running the sections is the bench's job
(``python bench/run.py --only perf --quick`` is the smoke run).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

BENCH = Path(__file__).resolve().parent.parent / "bench"
PRESENT = sorted(path.stem for path in BENCH.glob("_perf_*.py"))


def _bench_perf() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("_bench_perf")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """bench/ on sys.path (as when a script there runs) for the test; ``_bench_perf``."""
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("_bench_perf")


def test_every_perf_module_on_disk_is_run(bench: ModuleType) -> None:
    assert set(PRESENT) <= set(bench.MODULES)
    assert {"_perf_matching", "_perf_imports"} <= set(PRESENT)


@pytest.mark.parametrize("name", PRESENT)
def test_perf_module_has_the_section_interface(bench: ModuleType, name: str) -> None:
    module = importlib.import_module(name)
    section = getattr(module, "section", None)
    if section is None and name not in ("_perf_matching", "_perf_imports"):
        pytest.skip(f"{name} has not moved to section(quick) yet")
    assert callable(section)
    signature = inspect.signature(section)
    assert list(signature.parameters) == ["quick"]
    assert signature.parameters["quick"].default is False
    assert signature.return_annotation in (str, "str")
    source = (BENCH / f"{name}.py").read_text()
    assert 'if __name__ == "__main__":' in source


def test_missing_failing_and_working_modules(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "_perf_ok.py").write_text(
        "def section(quick: bool = False) -> str:\n"
        "    return f'## Demoted heading\\n\\nquick={quick}'\n"
    )
    (tmp_path / "_perf_broken.py").write_text(
        "def section(quick: bool = False) -> str:\n    raise RuntimeError('no server')\n"
    )
    (tmp_path / "_perf_old.py").write_text("def run() -> list[str]:\n    return []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(bench, "MODULES", ("_perf_ok", "_perf_gone", "_perf_broken", "_perf_old"))
    said: list[str] = []
    text = bench.perf_sections(True, said.append)
    assert "### Demoted heading\n\nquick=True" in text
    assert "\n## Demoted" not in text  # it would end the part splice replaces
    assert "`bench/_perf_gone.py` is not in this checkout: skipped." in text
    assert "`bench/_perf_broken.py` failed: RuntimeError: no server" in text
    assert "`bench/_perf_old.py` has no `section(quick)`: skipped." in text
    assert any("_perf_broken: failed" in line for line in said)


_HEADINGS = st.sampled_from(["## 1. Under the rate limit", "## 5. Model cost", "## Notes"])
_BODY = st.lists(
    st.sampled_from(["text", "| a | b |", "### sub", "", "- item", "#### deeper"]), max_size=4
)
_PART = st.tuples(_HEADINGS, _BODY).map(lambda p: "\n".join([p[0], *p[1]]) + "\n")


def _section(body: list[str]) -> str:
    return "\n".join(["## Performance at scale", "", *body]) + "\n"


@given(
    before=st.lists(_PART, max_size=3),
    after=st.lists(_PART, max_size=3),
    old=_BODY,
    new=_BODY,
    present=st.booleans(),
)
def test_splice_replaces_only_the_perf_part(
    before: list[str], after: list[str], old: list[str], new: list[str], present: bool
) -> None:
    bench = _bench_perf()
    head = "# Benchmarks\n\nintro\n\n"
    document = head + "\n".join(before) + ("\n" + _section(old) if present else "")
    if present:
        document += "\n" + "\n".join(after)
    done = bench.splice(document, _section(new))
    assert done.count("## Performance at scale") == 1
    # Everything outside the part is kept, in order.
    outside = [line for line in document.splitlines() if line.startswith("## ")]
    assert [line for line in done.splitlines() if line.startswith("## ")] == (
        outside if present else [*outside, "## Performance at scale"]
    )
    assert done.startswith(head + "\n".join(before).rstrip("\n"))
    if present and after:
        assert done.endswith("\n".join(after))
    # The part is the new section, and splicing again changes nothing.
    start = done.index("## Performance at scale")
    assert done[start:].startswith(_section(new))
    assert bench.splice(done, _section(new)) == done
