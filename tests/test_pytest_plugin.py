"""The pytest plugin: installing the package gives a user's tests ``billabex_fake`` and a client.

Each run is a fresh pytest process in its own directory with its own ini, so
the plugin is found through its entry point and this project's settings
(auto mode, warnings as errors) do not leak into the user's run.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from tests._fresh_imports import loaded_after
from tests._user_tests import run_user_tests

pytest_plugins = ["pytester"]

USER_TESTS = """
import pytest

from billabex_async import RateLimit
from billabex_async.testing import FakeBillabex, VirtualClock

CLOCK = VirtualClock()


@pytest.mark.asyncio
async def test_the_fake_is_started(billabex_fake):
    assert isinstance(billabex_fake, FakeBillabex)
    billabex_fake.add_contact(billabex_fake.account_id, full_name="Ada Lovelace")
    assert [c.full_name for c in billabex_fake.contacts(billabex_fake.account_id)] == [
        "Ada Lovelace"
    ]


@pytest.mark.asyncio
async def test_the_client_talks_to_the_fake(billabex_client, billabex_fake):
    await billabex_client.contacts.upsert(
        billabex_fake.account_id, full_name="John Smith", language="en"
    )
    [john] = billabex_fake.contacts(billabex_fake.account_id)
    assert john.full_name == "John Smith"
    assert [r.status for r in billabex_fake.requests] == [201]


class TestOptions:
    @pytest.fixture
    def billabex_fake_options(self):
        return {"rate_limit": RateLimit(2, 1.0), "clock": CLOCK, "seed": 7}

    @pytest.mark.asyncio
    async def test_options_reach_the_fake_and_the_client(self, billabex_client, billabex_fake):
        for i in range(5):
            await billabex_client.contacts.create(
                billabex_fake.account_id, full_name=f"P{i}", language="en"
            )
        assert len(billabex_fake.contacts(billabex_fake.account_id)) == 5
        # The client paced itself with the fake's limit, in the shared virtual time.
        assert billabex_fake.stats.rate_limited == 0
        assert billabex_fake.stats.max_in_window == 2
"""


@pytest.fixture
def user_tests(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_a_users_tests_pass_in_both_asyncio_modes(user_tests: pytest.Pytester, mode: str) -> None:
    run_user_tests(user_tests, passed=3, mode=mode)


def test_without_pytest_asyncio_the_fixtures_fail_with_one_clear_message(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_user="""
        def test_x(billabex_fake):
            pass

        def test_y(billabex_client):
            pass

        def test_unrelated():
            pass
        """
    )
    pytester.makeini("[pytest]\n")
    # A process in which pytest-asyncio cannot be imported: the plugin still loads.
    # Plain asserts: the rewriting import hook would otherwise find it first.
    code = textwrap.dedent(
        """
        import sys

        class NoPytestAsyncio:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "pytest_asyncio":
                    raise ImportError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, NoPytestAsyncio())
        import pytest
        args = ["-p", "no:asyncio", "-p", "no:cacheprovider", "--assert=plain"]
        raise SystemExit(pytest.main(args))
        """
    )
    result = pytester.run(sys.executable, "-c", code)
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*fixtures need pytest-asyncio: pip install pytest-asyncio*"])
    assert "Traceback" not in result.stdout.str()


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    # pytest imports the plugin at start-up in every project that installs us.
    # No more than pytest and the package itself load (pytest: importlib.metadata).
    baseline = loaded_after("import pytest, pytest_asyncio, billabex_async")
    assert loaded_after("import pytest, billabex_async.pytest_plugin") == baseline
