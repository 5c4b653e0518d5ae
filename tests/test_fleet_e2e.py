"""The fleet end to end: real redis-server, 4 worker processes, 3 tenants x 10 accounts.

One worker is SIGKILLed when it reports progress on a job (an event on the
Redis stream, not a timer); arq hands that job to another worker once its
claim expires, and the sync converges. Judged by what the simulator saw:
every account holds exactly its contacts, no duplicate, no 429, and each
tenant's window was on average at least 90 % full while it had work. The
scenario is examples/fleet_demo.py's, at test sizes (about 25 s).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("arq", reason="arq missing: pip install 'billabex-async[fleet]'")

from tests._redis import redis_url_or_skip

DEMO = Path(__file__).resolve().parents[1] / "examples" / "fleet_demo.py"
LIMIT, WINDOW = 50, 4.0


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fleet_demo_example", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


demo = _load()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    yield from redis_url_or_skip()


def test_utilisation_is_how_full_the_window_was_after_the_first() -> None:
    # One request every 0.1 s under 10 per 1 s: the window is always full.
    steady = [i / 10 for i in range(50)]
    assert demo.utilisation(steady, 10, 1.0) == pytest.approx(1.0, abs=0.01)
    # Half the rate: half full. A lone later burst is its own (too short) period.
    half = [i / 5 for i in range(25)]
    assert demo.utilisation([*half, 60.0, 60.1], 10, 1.0) == pytest.approx(0.5, abs=0.03)
    assert demo.utilisation([0.0, 0.5], 10, 1.0) == 0.0


@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
async def test_a_fleet_with_a_killed_worker_converges_at_the_limit(redis_url: str) -> None:
    run = await demo.run_fleet(
        redis_url,
        tenants=3,
        accounts=10,
        people=10,
        workers=4,
        limit=LIMIT,
        window=WINDOW,
        deadline=90.0,
    )
    table = demo.table(run, LIMIT, WINDOW)
    assert run.killed_pid is not None, table
    assert sorted(code for code in run.exit_codes if code != 0) == [-9], table
    assert run.killed_job_tries == 2, table  # the killed try, then one that finished
    for report in run.reports:
        assert report.converged == report.accounts, table
        assert report.stored == report.expected, table
        assert report.duplicates == 0, table
        assert report.rate_limited == 0, table
        assert report.utilisation >= 0.9, table
