"""``contacts sync --concurrency``: the library's adaptive default unless a number is given."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from billabex_async.cli import contacts
from billabex_async.cli._app import cli
from billabex_async.cli._rows import Rows
from billabex_async.cli._settings import Settings
from billabex_async.cli._sync import SyncOptions
from tests._cli_run import HEADER, ROWS, write_csv


def _concurrency_passed(monkeypatch: pytest.MonkeyPatch, source: Path, *extra: str) -> object:
    seen: list[SyncOptions] = []

    async def run_sync(settings: Settings, account: str, rows: Rows, options: SyncOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(contacts, "run_sync", run_sync)
    args = [
        "--rate-limit",
        "off",
        "contacts",
        "sync",
        str(uuid.uuid4()),
        str(source),
        "--dry-run",
        *extra,
    ]
    result = CliRunner().invoke(cli, args, env={"BILLABEX_TOKEN": "t"})
    assert result.exit_code == 0, result.output
    (options,) = seen
    return options.concurrency


def test_the_default_is_the_library_adaptive_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    assert _concurrency_passed(monkeypatch, source) is None  # apply_plan's concurrency=None


def test_an_explicit_concurrency_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "contacts.csv", HEADER, *ROWS)
    assert _concurrency_passed(monkeypatch, source, "--concurrency", "3") == 3
