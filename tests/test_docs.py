"""Every ```python block of docs/ runs, as a reader would paste it, against FakeBillabex.

A block is run on its own, with ``BILLABEX_TOKEN``, ``BILLABEX_BASE_URL`` and
``BILLABEX_ACCOUNT_ID`` pointing at a simulator (running in a thread of its
own, seeded with a few contacts):

- a script (``asyncio.run(main())``) runs as is;
- a snippet with a top-level ``await`` runs inside an event loop where
  ``client`` is an open ``BillabexClient()`` and ``account_id`` the account's
  id, as the guides say;
- a block defining ``test_*`` functions is a user's test file: all of them run
  through pytest in pytest-asyncio's strict mode, and must pass.

A block that cannot run here (a browser login, a Redis server) is preceded by
``<!-- no-run: reason -->``; ``NO_RUN`` lists how many each page has, so a
block does not stop running unnoticed. Shell blocks (console, bash) never run.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest

from billabex_async import BillabexClient
from billabex_async.testing import FakeBillabex
from tests._user_tests import run_user_tests

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parent.parent / "docs"

# Page -> blocks marked no-run on it. A new mark must be added here on purpose.
NO_RUN = {
    "guides/auth.md": 1,
    "guides/many-workers.md": 1,
    "guides/many-tenants.md": 1,
    "guides/fleet.md": 2,  # a fleet needs Redis and arq workers
}

SEEDED_CONTACTS = 5

_FENCE = re.compile(r"^```(\S*)(.*)$")
_NO_RUN = re.compile(r"^<!--\s*no-run:\s*(\S.*?)\s*-->$")


@attrs.frozen
class Block:
    page: str
    line: int
    source: str
    no_run: str | None  # the reason given, when marked

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def is_test_file(self) -> bool:
        return re.search(r"^(async )?def test_", self.source, flags=re.M) is not None


def _blocks(page: Path) -> Iterator[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    previous = ""  # the last non-blank line before a fence
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        i += 1
        if fence.group(1) == "python":
            mark = _NO_RUN.match(previous)
            rel = page.relative_to(DOCS).as_posix()
            yield Block(rel, start + 1, "\n".join(body) + "\n", mark.group(1) if mark else None)
        previous = ""


ALL_BLOCKS = [b for page in sorted(DOCS.rglob("*.md")) for b in _blocks(page)]
RUNNABLE = [b for b in ALL_BLOCKS if b.no_run is None and not b.is_test_file]
TEST_FILES = [b for b in ALL_BLOCKS if b.no_run is None and b.is_test_file]


@contextmanager
def _fake_in_thread() -> Iterator[FakeBillabex]:
    """A started FakeBillabex on a loop of its own, so a block may call ``asyncio.run``."""
    ready = threading.Event()
    started: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        fake = FakeBillabex(seed=1)
        fake.seed_contacts(fake.account_id, SEEDED_CONTACTS)
        async with fake:
            started.update(fake=fake, loop=asyncio.get_running_loop(), stop=stop)
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        finally:
            ready.set()  # never leave the test waiting on a simulator that failed to start

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait()
    assert "fake" in started, "the simulator did not start"
    try:
        yield started["fake"]
    finally:
        started["loop"].call_soon_threadsafe(started["stop"].set)
        thread.join()


@pytest.fixture
def billabex_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBillabex]:
    with _fake_in_thread() as fake:
        monkeypatch.setenv("BILLABEX_TOKEN", fake.token)
        monkeypatch.setenv("BILLABEX_BASE_URL", fake.url)
        monkeypatch.setenv("BILLABEX_ACCOUNT_ID", str(fake.account_id))
        yield fake


def _run(block: Block, account_id: str) -> None:
    code = compile(block.source, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    if not code.co_flags & inspect.CO_COROUTINE:
        exec(code, namespace)  # noqa: S102 - the docs' own code
        return

    async def in_loop() -> None:
        async with BillabexClient() as client:
            namespace.update(client=client, account_id=account_id)
            await eval(code, namespace)  # noqa: S307 - the docs' own code

    asyncio.run(in_loop())


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_the_block_runs(block: Block, billabex_env: FakeBillabex) -> None:
    _run(block, str(billabex_env.account_id))


def test_the_test_examples_pass_in_strict_mode(pytester: pytest.Pytester) -> None:
    assert TEST_FILES, "the testing guide shows a test file"
    pytester.makepyfile(
        **{f"test_{Path(b.page).stem}_{b.line}".replace("-", "_"): b.source for b in TEST_FILES}
    )
    tests = sum(len(re.findall(r"^(?:async )?def test_", b.source, re.M)) for b in TEST_FILES)
    run_user_tests(pytester, passed=tests)


def test_no_block_is_skipped_silently() -> None:
    marked: dict[str, int] = {}
    for block in ALL_BLOCKS:
        if block.no_run is not None:
            marked[block.page] = marked.get(block.page, 0) + 1
    assert marked == NO_RUN


def test_every_python_fence_is_seen() -> None:
    # A fence the parser missed (```py, ```python3, an indented one) would never run.
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        fences = re.findall(r"^\s*```(py\S*)", text, flags=re.M)
        seen = [b for b in ALL_BLOCKS if b.page == page.relative_to(DOCS).as_posix()]
        assert len(fences) == len(seen), page
        assert all(f == "python" for f in fences)
    assert len(RUNNABLE) >= 20
