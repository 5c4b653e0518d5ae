"""The progress counter of ``contacts sync`` ends on the summary's numbers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from billabex_async.testing import FakeBillabex
from tests._cli_run import HEADER, ROWS, billabex, write_csv


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=23) as fake:
        yield fake


def _summary(out: str) -> dict[str, int]:
    """The summary table's counts by label."""
    return {
        label.strip(): int(count)
        for label, count in re.findall(r"│ ([a-z ()-]+?)\s+│\s+(\d+) │", out)
    }


def _final_count(err: str) -> tuple[int, int]:
    """The write phase's last line: ``Writing: done/total``."""
    (found,) = re.findall(r"^Writing: (\d+)/(\d+)$", err, flags=re.M)
    return int(found[0]), int(found[1])


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (None, {"created": 3, "failed": 0, "not attempted": 0}),
        (422, {"created": 2, "failed": 1, "not attempted": 0}),  # one row refused
        (401, {"created": 0, "failed": 1, "not attempted": 2}),  # the token: the run stops
    ],
)
async def test_the_counter_ends_where_the_summary_does(
    fake: FakeBillabex, tmp_path: Path, fault: int | None, expected: dict[str, int]
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    if fault is not None:
        fake.script(method="PUT", kind="status", status=fault, times=1)
    run = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--concurrency", "1"
    )
    summary = _summary(run.out)
    assert {k: summary[k] for k in expected} == expected, run.out
    done, total = _final_count(run.err)
    assert total == 3  # the writes planned
    assert done == summary["created"] + summary["updated"] + summary["deleted"] + summary["failed"]
