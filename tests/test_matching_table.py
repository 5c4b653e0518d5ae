"""The key table under its index: every entry is found again, however its probe run ends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billabex_async._matching.table import Table


def test_runs_that_reach_the_last_cell_go_on_past_it() -> None:
    table = Table(8, tails=False)
    keys = [7 | i << 56 for i in range(1, 6)]  # all at home in the last cell, distinct fingerprints
    for slot, key in enumerate(keys):
        table.insert(slot, {key})
    assert len(table.fps) > 8 + 1  # the run went on past the last home cell ...
    assert table.fps[-1] == 0  # ... and an empty cell is still last
    for slot, key in enumerate(keys):
        found: set[int] = set()
        table.collect({key}, found)
        assert found == {slot}


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40), st.sampled_from([4, 16, 64]))
def test_every_entry_is_found_under_its_key(keys: list[int], capacity: int) -> None:
    table = Table(capacity, tails=False)
    for slot, key in enumerate(keys):
        table.insert(slot, {key})
    assert table.fps[-1] == 0
    for slot, key in enumerate(keys):
        found: set[int] = set()
        table.collect({key}, found)
        assert slot in found
