"""bench/: ``python -m bench``'s argument handling, the perf sections' ``section(quick)``
interface, and the splice that replaces the "Performance at scale" part of results.md and
nothing else.

Nothing here is timed: running the sections is the bench's job
(``python -m bench --only perf --quick`` is the smoke run).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bench.__main__ as entry
from bench import BENCH, OUT
from bench.report.splice import PERF_HEADING, splice
from bench.sections import perf

PERF = BENCH / "sections" / "perf"
PRESENT = sorted(path.stem for path in PERF.glob("*.py") if not path.stem.startswith("_"))


def test_every_perf_module_on_disk_is_run() -> None:
    assert set(PRESENT) <= set(perf.MODULES)
    assert {"matching", "imports"} <= set(PRESENT)


@pytest.mark.parametrize("name", PRESENT)
def test_perf_module_has_the_section_interface(name: str) -> None:
    module = importlib.import_module(f"bench.sections.perf.{name}")
    section = getattr(module, "section", None)
    assert callable(section)
    signature = inspect.signature(section)
    assert list(signature.parameters) == ["quick"]
    assert signature.parameters["quick"].default is False
    assert signature.return_annotation in (str, "str")
    source = (PERF / f"{name}.py").read_text()
    assert 'if __name__ == "__main__":' in source


def test_missing_failing_and_working_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = "perf_doubles_" + re.sub(r"\W", "_", tmp_path.name)
    folder = tmp_path / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "ok.py").write_text(
        "def section(quick: bool = False) -> str:\n"
        "    return f'## Demoted heading\\n\\nquick={quick}'\n"
    )
    (folder / "broken.py").write_text(
        "def section(quick: bool = False) -> str:\n    raise RuntimeError('no server')\n"
    )
    (folder / "old.py").write_text("def run() -> list[str]:\n    return []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    said: list[str] = []
    text = perf.perf_sections(True, said.append, ("ok", "gone", "broken", "old"), package)
    assert "### Demoted heading\n\nquick=True" in text
    assert "\n## Demoted" not in text  # it would end the part splice replaces
    assert "`bench/sections/perf/gone.py` is not in this checkout: skipped." in text
    assert "`bench/sections/perf/broken.py` failed: RuntimeError: no server" in text
    assert "`bench/sections/perf/old.py` has no `section(quick)`: skipped." in text
    assert any("broken: failed" in line for line in said)


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
    head = "# Benchmarks\n\nintro\n\n"
    document = head + "\n".join(before) + ("\n" + _section(old) if present else "")
    if present:
        document += "\n" + "\n".join(after)
    done = splice(document, _section(new))
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
    assert splice(done, _section(new)) == done


# --- the entry point ------------------------------------------------------------------


def test_no_option_runs_what_make_bench_runs_into_results_md() -> None:
    plan = entry.parse([])
    assert plan.numbered == {1, 2, 3, 4, 5}
    assert plan.perf
    assert plan.standalone == ()
    assert not plan.splice_only
    assert plan.out == BENCH


@pytest.mark.parametrize(
    ("only", "numbered", "perf_too"),
    [
        ("1,3", {1, 3}, False),
        ("limited,resync", {1, 3}, False),
        ("throughput, 5", {2, 5}, False),
        ("memory,models,perf", {4, 5}, True),
    ],
)
def test_only_names_or_numbers_write_to_out(only: str, numbered: set[int], perf_too: bool) -> None:
    plan = entry.parse(["--only", only])
    assert plan.numbered == numbered
    assert plan.perf is perf_too
    assert not plan.splice_only
    assert plan.out == OUT


def test_quick_goes_to_out_whatever_runs() -> None:
    everything = entry.parse(["--quick"])
    assert everything.numbered == {1, 2, 3, 4, 5}
    assert (everything.perf, everything.out) == (True, OUT)
    assert everything.quick
    some = entry.parse(["--only", "memory", "--quick"])
    assert some.numbered == {4}
    assert (some.quick, some.out) == (True, OUT)


def test_perf_alone_splices_results_md_and_quick_goes_to_out() -> None:
    full = entry.parse(["--only", "perf"])
    assert (full.splice_only, full.quick, full.out) == (True, False, BENCH)
    assert not full.numbered
    quick = entry.parse(["--only", "perf", "--quick"])
    assert (quick.splice_only, quick.quick, quick.out) == (True, True, OUT)


def test_standalone_sections_take_their_own_options() -> None:
    plan = entry.parse(["--only", "simulator", "--requests", "200", "--quick"])
    assert plan.standalone == ("simulator",)
    assert plan.extra == ("--requests", "200")
    assert plan.quick
    assert not plan.numbered
    assert not plan.perf
    assert entry.parse(["--only", "redis"]).standalone == ("redis",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "nope"], "unknown section nope"),
        (["--only", "6"], "unknown section 6"),
        (["--only", ","], "at least one section"),
        (["--only", "perf", "--requests", "3"], "unrecognized arguments: --requests 3"),
        (["--only", "simulator,redis", "--limit", "3"], "unrecognized arguments: --limit 3"),
    ],
)
def test_arguments_that_make_no_sense_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        entry.parse(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_perf_alone_replaces_only_its_part_of_results_md(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []

    def perf_text(quick: bool) -> str:
        calls.append(quick)
        return f"{PERF_HEADING}\n\nnew figures\n"

    def no_numbered(sections: frozenset[int], out: Path, quick: bool) -> str:
        raise AssertionError("perf alone must not run sections 1-5")

    monkeypatch.setattr(entry, "_perf_text", perf_text)
    monkeypatch.setattr(entry, "_numbered_text", no_numbered)
    results = tmp_path / "results.md"
    results.write_text(
        f"# Benchmarks\n\n## 1. Under the rate limit\n\nkept\n\n{PERF_HEADING}\n\nold figures\n"
        "\n## 6. Later\n\nalso kept\n"
    )
    plan = entry.Plan(perf=True, quick=True, splice_only=True, out=tmp_path)
    assert entry.write_results(plan) == results
    assert calls == [True]
    assert results.read_text() == (
        f"# Benchmarks\n\n## 1. Under the rate limit\n\nkept\n\n{PERF_HEADING}\n\nnew figures\n"
        "\n## 6. Later\n\nalso kept\n"
    )


def test_numbered_sections_render_then_get_the_perf_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[frozenset[int]] = []

    def numbered_text(sections: frozenset[int], out: Path, quick: bool) -> str:
        ran.append(sections)
        assert out == tmp_path
        assert not quick
        return "# Benchmarks\n\n## 3. Re-sync\n\nrows\n"

    monkeypatch.setattr(entry, "_numbered_text", numbered_text)
    monkeypatch.setattr(entry, "_perf_text", lambda quick: f"{PERF_HEADING}\n\nperf\n")
    plan = entry.Plan(numbered=frozenset({3}), perf=True, out=tmp_path)
    written = entry.write_results(plan)
    assert ran == [{3}]
    assert written is not None
    assert (
        written.read_text() == f"# Benchmarks\n\n## 3. Re-sync\n\nrows\n\n{PERF_HEADING}\n\nperf\n"
    )
    assert entry.write_results(entry.Plan(standalone=("redis",), out=tmp_path)) is None


def test_main_hands_options_to_the_standalone_section_and_returns_its_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, list[str]]] = []

    def section(name: str) -> object:
        def run(options: Sequence[str]) -> int:
            seen.append((name, list(options)))
            return 1

        return run

    monkeypatch.setattr(entry, "_standalone", section)
    assert entry.main(["--only", "simulator", "--requests", "7", "--quick"]) == 1
    assert seen == [("simulator", ["--requests", "7", "--quick"])]


def test_bench_reaches_no_test_module_and_names_private_modules_in_one_place() -> None:
    sources = {path: path.read_text() for path in BENCH.rglob("*.py") if "out" not in path.parts}
    for path, text in sources.items():
        assert not re.search(r"^\s*(from|import) tests\b", text, re.MULTILINE), path
        assert '"tests"' not in text, path  # nor reaches into it by path
        if path.name != "_private.py":
            assert not re.search(r"billabex_async(\.\w+)*\._(?!_)", text), path


def test_engine_lags_add_up_to_the_span_past_an_ideal_probed_client() -> None:
    from bench.sections.perf.engine import lags

    # 1 probe at 0, its burst 0.25..0.30, then windows of 4 each ending later than ideal.
    ok = [0.0, 0.25, 0.28, 0.30, 2.45, 2.48, 2.55, 2.56, 4.70, 4.80, 4.81]
    stages = lags(ok, 4, 2.0, 0.2)
    assert stages == pytest.approx([0.10, 0.06, 0.05])
    assert sum(stages) == pytest.approx(ok[-1] - ok[0] - (0.2 + 2 * 2.2))
    assert lags([1.0], 4, 2.0, 0.2) == []
