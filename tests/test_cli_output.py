"""What the CLI prints: whole lines in a pipe, the output formats, data kept inert."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from rich.console import Console

from billabex_async.cli._logs import log_to
from billabex_async.cli._text import clean
from billabex_async.testing import FakeBillabex
from tests._cli_run import billabex, write_csv
from tests.conftest import ScriptedServer

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# What a terminal obeys: ESC, the 8-bit CSI/OSC/ST, BEL.
TERMINAL_CONTROLS = re.compile("[\x07\x1b\x9b\x9c\x9d]")
HOSTILE = "Eve \x1b[2J\x1b]0;owned\x07\x9b31m[/x] [bold]Evil\x1b]8;;http://x\x1b\\"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=31) as fake:
        yield fake


def _long_names(fake: FakeBillabex) -> list[str]:
    names = [f"Augusta Ada King Countess of Lovelace the {n}" for n in ("First", "Second")]
    return [
        str(fake.add_contact(fake.account_id, full_name=name, email=f"{n}@example.org").id)
        for n, name in enumerate(names)
    ]


@pytest.mark.parametrize(
    "env",
    [
        {"COLUMNS": None},  # rich's default: 80
        {"COLUMNS": "40"},
        {"COLUMNS": None, "NO_COLOR": None, "FORCE_COLOR": "1"},  # rich then calls it a terminal
    ],
)
async def test_a_piped_table_is_never_wrapped_or_cut(
    fake: FakeBillabex, env: dict[str, str | None]
) -> None:
    ids = _long_names(fake)
    run = await billabex(fake, "contacts", "list", fake.account_id, env=env)
    assert run.code == 0, run.err
    assert sorted(UUID.findall(run.out)) == sorted(ids)  # every id whole, pasteable
    assert "…" not in run.out
    rows = [line for line in run.out.splitlines() if "Countess" in line]
    assert len(rows) == 2  # one line each: nothing wrapped
    assert all("@example.org" in row for row in rows)


async def test_a_long_error_line_is_not_wrapped_in_a_pipe(fake: FakeBillabex) -> None:
    missing = "0b5e0c7e-8f0a-4c55-9d8e-0c1f3e6a7b21"
    run = await billabex(fake, "contacts", "get", fake.account_id, missing, env={"COLUMNS": None})
    assert run.code == 1
    (line,) = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert missing in line
    assert "404" in line


async def test_output_formats_and_the_json_alias(fake: FakeBillabex, tmp_path: Path) -> None:
    ada = fake.add_contact(
        fake.account_id, full_name="Ada Lovelace", email="ada@example.org", role="CFO", notes="a\nb"
    )
    as_json = await billabex(fake, "contacts", "list", fake.account_id, "--output", "json")
    alias = await billabex(fake, "contacts", "list", fake.account_id, "--json")
    assert as_json.code == alias.code == 0
    assert as_json.out == alias.out
    (record,) = [json.loads(line) for line in as_json.out.splitlines()]
    assert (record["id"], record["fullName"]) == (str(ada.id), "Ada Lovelace")
    as_csv = await billabex(fake, "contacts", "list", fake.account_id, "-o", "csv")
    assert as_csv.code == 0, as_csv.err
    (row,) = csv.DictReader(io.StringIO(as_csv.out))
    assert row["id"] == str(ada.id)
    assert (row["full_name"], row["email"], row["role"], row["notes"]) == (
        "Ada Lovelace",
        "ada@example.org",
        "CFO",
        "a\nb",
    )
    table = await billabex(fake, "contacts", "list", fake.account_id, "-o", "table")
    assert str(ada.id) in table.out
    assert "1 contact(s)" in table.out
    both = await billabex(fake, "contacts", "list", fake.account_id, "--json", "-o", "csv")
    assert both.code == 2
    # The CSV is what sync reads: synced back, nothing changes and nothing is warned.
    listed = tmp_path / "listed.csv"
    listed.write_text(as_csv.out, encoding="utf-8")
    again = await billabex(fake, "contacts", "sync", fake.account_id, str(listed), "--dry-run")
    assert again.code == 0, again.err
    assert "warning" not in again.err
    assert re.search(r"unchanged\s*│\s*1", again.out)


def test_clean_strips_every_kind_of_terminal_control() -> None:
    assert clean(HOSTILE) == "Eve [/x] [bold]Evil"
    assert clean("tab\tand\nline") == "tab and line"
    assert clean("a\nb", lines=True) == "a\nb"
    assert clean("bidi \u202eevil\u2066") == "bidi evil"
    assert clean("\x00\x08\x7f\x85ok") == "ok"
    assert clean("Chloé Zhao — 東京") == "Chloé Zhao — 東京"


async def test_names_from_the_server_reach_the_terminal_inert(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    fake.add_contact(fake.account_id, full_name=HOSTILE, role="[red]x[/]")
    table = await billabex(fake, "contacts", "list", fake.account_id)
    assert table.code == 0, table.err
    assert "MarkupError" not in table.err
    assert "[/x] [bold]Evil" in table.out  # shown as written, not read as markup
    assert "[red]x[/]" in table.out
    as_json = await billabex(fake, "contacts", "list", fake.account_id, "-o", "json")
    as_csv = await billabex(fake, "contacts", "list", fake.account_id, "-o", "csv")
    for run in (table, as_json, as_csv):
        assert not TERMINAL_CONTROLS.search(run.out + run.err), run
    assert json.loads(as_json.out)["fullName"] == HOSTILE  # JSON escapes them, loses nothing
    # A dry run lists the delete, by name, in its plan.
    source = write_csv(tmp_path / "c.csv", ["full_name", "language"], ["Ada Lovelace", "en"])
    plan = await billabex(
        fake, "contacts", "sync", fake.account_id, str(source), "--dry-run", "--delete-missing"
    )
    assert "Traceback" not in plan.err
    assert "[/x] [bold]Evil" in plan.out
    assert not TERMINAL_CONTROLS.search(plan.out + plan.err)


async def test_markup_in_a_file_value_is_shown_not_parsed(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "c.csv", ["full_name", "language"], ["[/x] Ada", "[/y]"])
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert run.code == 2
    assert "MarkupError" not in run.err
    assert "got '[/y]'" in run.err


async def test_server_error_messages_reach_the_terminal_inert(
    fake: FakeBillabex, scripted: ScriptedServer
) -> None:
    async def hostile(request: web.Request) -> web.StreamResponse:
        message = f"bad request {HOSTILE}"
        return web.json_response({"message": message, "code": "x.y"}, status=400)

    scripted.default = hostile
    run = await billabex(
        fake, "contacts", "list", fake.account_id, env={"BILLABEX_BASE_URL": scripted.url}
    )
    assert run.code == 1
    assert "Traceback" not in run.err
    assert "[/x] [bold]Evil" in run.err
    assert not TERMINAL_CONTROLS.search(run.err)


def test_log_lines_reach_the_terminal_inert(capsys: pytest.CaptureFixture[str]) -> None:
    log_to(Console(stderr=True), 0)
    logging.getLogger("billabex_async").warning("server said %s", HOSTILE)
    err = capsys.readouterr().err
    assert "server said Eve [/x] [bold]Evil" in err
    assert not TERMINAL_CONTROLS.search(err)
