"""Run test files as a user's project would: a fresh pytest process, our conftest not in it."""

from __future__ import annotations

import pytest


def run_user_tests(pytester: pytest.Pytester, *, passed: int, mode: str = "strict") -> None:
    """Run the files made in ``pytester`` under pytest-asyncio's ``mode``; all ``passed`` pass.

    Strict is pytest-asyncio's default, and a user's project may have no ini of
    its own to lean on; warnings are errors, as they are in our own suite.
    """
    pytester.makeini(
        f"""
        [pytest]
        asyncio_mode = {mode}
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=passed)
