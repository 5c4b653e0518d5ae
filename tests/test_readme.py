"""The README's FakeBillabex examples run as written, as a user's test file in strict mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests._user_tests import run_user_tests

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_block(containing: str) -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [block] = [b for b in blocks if containing in b]
    return block


def test_the_testing_examples_pass_in_strict_mode(pytester: pytest.Pytester) -> None:
    # One file per block: each is what a user would paste into their tests.
    pytester.makepyfile(
        test_flaky=_python_block("test_upsert_survives_a_flaky_server"),
        test_virtual=_python_block("test_rate_windows_pass_in_virtual_time"),
    )
    run_user_tests(pytester, passed=2)


async def test_the_virtual_clock_example_passes() -> None:
    namespace: dict[str, Any] = {}
    exec(_python_block("test_rate_windows_pass_in_virtual_time"), namespace)  # noqa: S102
    await namespace["test_rate_windows_pass_in_virtual_time"]()
