"""examples/redis_worker.py splits the work by account, never by row.

Rows Billabex would match to one contact belong to one account; if two
workers could hold rows of the same account, they could send two such rows
at once (the second overwrites the first, or duplicates it).
"""

from __future__ import annotations

import csv
import importlib.util
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billabex_async import ContactUpsert

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "redis_worker.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("redis_worker_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_worker = _load()
shard_of: Callable[[str, int], int] = _worker.shard_of
my_rows: Callable[[str, int, int], Iterator[tuple[str, ContactUpsert]]] = _worker.my_rows

ACCOUNTS = [str(uuid.UUID(int=n * 0x9E3779B97F4A7C15 % 2**128)) for n in range(1, 9)]


def _write(folder: str, rows: list[tuple[str, str]]) -> str:
    path = str(Path(folder) / "contacts.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account_id", "full_name", "email", "language"])
        for account, name in rows:
            writer.writerow([account, name, "", "en"])
    return path


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(["Ada Li", "Ada Lee", "Bo Chen"])),
        max_size=30,
    ),
    shards=st.integers(min_value=1, max_value=5),
    spell=st.sampled_from([str.lower, str.upper, lambda s: s.replace("-", "")]),
)
def test_every_row_goes_to_exactly_one_worker_and_an_account_to_one_worker(
    rows: list[tuple[str, str]], shards: int, spell: Callable[[str], str]
) -> None:
    rows = [(spell(account), name) for account, name in rows]  # the CSV may spell ids any way
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, rows)
        taken = {shard: list(my_rows(path, shard, shards)) for shard in range(shards)}
    owners: dict[str, set[int]] = {}
    for shard, pairs in taken.items():
        for account, _ in pairs:
            owners.setdefault(str(uuid.UUID(account)), set()).add(shard)
    assert all(len(shards_of_account) == 1 for shards_of_account in owners.values()), owners
    sent = sorted((account, item.full_name) for pairs in taken.values() for account, item in pairs)
    assert sent == sorted(rows)  # nothing lost, nothing twice
    for shard, pairs in taken.items():  # and each worker keeps the file's order
        mine = [row for row in rows if shard_of(row[0], shards) == shard]
        assert [(account, item.full_name) for account, item in pairs] == mine


def test_the_shard_is_a_fixed_function_of_the_account() -> None:
    # CRC-32 of the canonical UUID: the same in every process and Python version
    # (hash() is salted per process, so two workers would disagree).
    account = "0b6c1a52-4f5e-4d36-9a43-7c1f2e5d8b90"
    assert [shard_of(account, n) for n in (1, 2, 3, 4, 7)] == [0, 0, 1, 2, 6]
    assert shard_of(account.upper(), 7) == shard_of(account.replace("-", ""), 7) == 6


def test_a_row_without_a_valid_account_id_names_its_line(tmp_path: Path) -> None:
    path = _write(str(tmp_path), [(ACCOUNTS[0], "Ada Li"), ("acme", "Bo Chen")])
    with pytest.raises(ValueError, match=r"contacts\.csv:3: account_id is not a UUID"):
        list(my_rows(path, 0, 2))
