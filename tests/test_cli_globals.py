"""Global options anywhere on the line, where a token came from, and shell completion."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from billabex_async.auth import Credentials, FileTokenStore, TokenSet
from billabex_async.testing import FakeBillabex
from tests._cli_run import billabex

README = Path(__file__).resolve().parent.parent / "README.md"
WRONG = "bbx_wrong_4c1d9e0a7f3b2d68"  # a token the simulator never issued


@pytest.fixture
async def fake() -> AsyncIterator[FakeBillabex]:
    async with FakeBillabex(rate_limit=None, seed=41) as fake:
        yield fake


@pytest.fixture
def no_login(tmp_path: Path) -> dict[str, str | None]:
    """An environment whose stored credentials live (or not) in the test's folder."""
    return {"BILLABEX_CREDENTIALS": str(tmp_path / "credentials.json")}


async def test_global_options_work_after_the_subcommand(
    fake: FakeBillabex, no_login: dict[str, str | None]
) -> None:
    fake.add_contact(fake.account_id, full_name="Ada Lovelace")
    env = {**no_login, "BILLABEX_BASE_URL": None}  # only the options say where and who
    run = await billabex(
        fake,
        "contacts",
        "list",
        fake.account_id,
        "--base-url",
        fake.url,
        "--token",
        fake.token,
        "--rate-limit",
        "10/1",
        "-vv",
        with_token=False,
        env=env,
    )
    assert run.code == 0, run.err
    assert "Ada Lovelace" in run.out
    assert "DEBUG" in run.err  # -vv after the subcommand: every request logged
    assert "Did you mean" not in run.err
    between = await billabex(
        fake, "contacts", "--token", fake.token, "list", fake.account_id, "--json",
        with_token=False, env=no_login,
    )  # fmt: skip
    assert between.code == 0, between.err
    assert "Ada Lovelace" in between.out


async def test_a_later_option_wins_and_a_bad_one_is_still_a_usage_error(
    fake: FakeBillabex, no_login: dict[str, str | None]
) -> None:
    run = await billabex(
        fake, "--token", WRONG, "contacts", "list", fake.account_id, "--token", fake.token,
        with_token=False, env=no_login,
    )  # fmt: skip
    assert run.code == 0, run.err
    bad = await billabex(fake, "contacts", "list", fake.account_id, "--rate-limit", "fast")
    assert bad.code == 2
    assert "rate" in bad.err.lower()
    assert fake.stats.requests == 1


async def test_whoami_reports_a_token_from_the_environment(
    fake: FakeBillabex, no_login: dict[str, str | None]
) -> None:
    run = await billabex(fake, "whoami", env=no_login)
    assert run.code == 0, run.err
    assert "BILLABEX_TOKEN" in run.out
    assert "Not logged in" not in run.out + run.err
    flag = await billabex(fake, "whoami", "--token", WRONG, with_token=False, env=no_login)
    assert flag.code == 0, flag.err
    assert "--token" in flag.out
    assert WRONG not in flag.out + flag.err
    nothing = await billabex(fake, "whoami", with_token=False, env=no_login)
    assert nothing.code == 1
    assert "Not logged in" in nothing.err
    assert "BILLABEX_TOKEN" in nothing.err  # the other way in


async def test_a_refused_token_says_where_it_came_from_never_what_it_is(
    fake: FakeBillabex, tmp_path: Path, no_login: dict[str, str | None]
) -> None:
    by_env = await billabex(
        fake, "contacts", "list", fake.account_id, env={**no_login, "BILLABEX_TOKEN": WRONG}
    )
    by_flag = await billabex(
        fake, "contacts", "list", fake.account_id, "--token", WRONG,
        with_token=False, env=no_login,
    )  # fmt: skip
    credentials = Path(str(no_login["BILLABEX_CREDENTIALS"]))
    tokens = TokenSet(access_token=WRONG, refresh_token=None, expires_at=time.time() + 3600)
    FileTokenStore(credentials).save(Credentials(fake.url, "client-1", None, tokens))
    by_login = await billabex(
        fake, "contacts", "list", fake.account_id, with_token=False, env=no_login
    )
    for run, origin in [
        (by_env, "the BILLABEX_TOKEN environment variable"),
        (by_flag, "the --token option"),
        (by_login, f"the login stored in {credentials}"),
    ]:
        assert run.code == 1, run.err
        assert "401" in run.err
        assert f"the token came from {origin}" in run.err
        assert WRONG not in run.out + run.err


async def test_a_sync_stopped_by_a_refused_token_says_where_it_came_from(
    fake: FakeBillabex, tmp_path: Path
) -> None:
    source = tmp_path / "c.csv"
    source.write_text("full_name,language\nAda Lovelace,en\nBob Marley,fr\n", encoding="utf-8")
    fake.script(method="PUT", kind="status", status=401, times=2)
    run = await billabex(fake, "contacts", "sync", fake.account_id, str(source))
    assert run.code == 1
    assert "stopped early" in run.err
    assert "the token came from the BILLABEX_TOKEN environment variable" in run.err


async def test_shell_completion_is_served_and_documented(fake: FakeBillabex) -> None:
    script = await billabex(fake, env={"_BILLABEX_COMPLETE": "bash_source"})
    assert script.code == 0
    assert "_billabex_completion" in script.out
    words = {"_BILLABEX_COMPLETE": "bash_complete", "COMP_WORDS": "billabex contacts sy"}
    completed = await billabex(fake, env={**words, "COMP_CWORD": "2"})
    assert "plain,sync" in completed.out
    usage = await billabex(fake, "--help")
    assert "_BILLABEX_COMPLETE=bash_source billabex" in usage.out
    assert "_BILLABEX_COMPLETE=bash_source billabex" in README.read_text(encoding="utf-8")
