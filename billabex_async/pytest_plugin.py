"""Pytest plugin layer: FakeBillabex and a client on it as fixtures (a ``pytest11`` entry point).

pytest loads this module wherever the package is installed, so it imports
nothing heavy at start-up (the simulator and the client load when a fixture
runs) and never fails to import: without pytest-asyncio, the fixtures fail
with one message that names it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from billabex_async import BillabexClient
    from billabex_async.testing import FakeBillabex

__all__ = ["billabex_client", "billabex_fake", "billabex_fake_options"]

MISSING_PYTEST_ASYNCIO = (
    "the billabex_fake and billabex_client fixtures need pytest-asyncio: pip install pytest-asyncio"
)

_F = TypeVar("_F", bound=Callable[..., Any])

_pytest_asyncio_fixture: Callable[[Any], Any] | None
try:
    from pytest_asyncio import fixture as _pytest_asyncio_fixture
except ImportError:  # pragma: no cover - exercised in a subprocess without it
    _pytest_asyncio_fixture = None


def _async_fixture(func: _F) -> _F:
    """``pytest_asyncio.fixture``, else a plain fixture failing with MISSING_PYTEST_ASYNCIO.

    An async fixture with no plugin to run it fails with a message naming
    neither pytest-asyncio nor how to get it.
    """
    if _pytest_asyncio_fixture is not None:
        return cast("_F", _pytest_asyncio_fixture(func))

    def missing(billabex_fake_options: dict[str, Any]) -> None:
        pytest.fail(MISSING_PYTEST_ASYNCIO, pytrace=False)

    missing.__name__ = func.__name__
    missing.__doc__ = func.__doc__
    return cast("_F", pytest.fixture(missing))


@pytest.fixture
def billabex_fake_options() -> dict[str, Any]:
    """Keyword arguments for ``FakeBillabex(...)``: override it to set ``rate_limit``, ``seed``...

    ``rate_limit`` and ``clock`` are given to ``billabex_client`` as well, so
    the client paces itself as the fake does and shares its time.
    """
    return {}


@_async_fixture
async def billabex_fake(billabex_fake_options: dict[str, Any]) -> AsyncIterator[FakeBillabex]:
    """A started ``FakeBillabex`` on 127.0.0.1, closed after the test.

    Built with ``billabex_fake_options`` as its keyword arguments.
    """
    from billabex_async.testing import FakeBillabex

    async with FakeBillabex(**billabex_fake_options) as fake:
        yield fake


@_async_fixture
async def billabex_client(
    billabex_fake: FakeBillabex, billabex_fake_options: dict[str, Any]
) -> AsyncIterator[BillabexClient]:
    """A ``BillabexClient`` holding ``billabex_fake``'s token and URL, closed after the test.

    Takes the ``rate_limit`` and ``clock`` of ``billabex_fake_options``, if set.
    """
    from billabex_async import BillabexClient

    shared = {k: v for k, v in billabex_fake_options.items() if k in ("rate_limit", "clock")}
    async with BillabexClient(
        token=billabex_fake.token, base_url=billabex_fake.url, **shared
    ) as client:
        yield client
