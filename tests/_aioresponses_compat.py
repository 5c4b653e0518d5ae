"""Test helper: let aioresponses 0.7.9 build responses on aiohttp >= 3.13.

aioresponses 0.7.9 constructs ``ClientResponse`` without the keyword-only
``stream_writer`` argument that newer aiohttp requires, so every mocked call
fails with a TypeError. This subclass supplies a stand-in writer (the mocked
request is never written anywhere); the fixture swaps it in for the module's
default response class. Drop it once aioresponses passes the argument itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import aioresponses.core
import pytest
from aiohttp import ClientResponse


class _NoWriter:
    output_size = 0


class CompatClientResponse(ClientResponse):
    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NoWriter())
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked() -> Iterator[aioresponses.aioresponses]:
    """An active aioresponses mock that works on this aiohttp."""
    with (
        mock.patch.object(aioresponses.core, "ClientResponse", CompatClientResponse),
        aioresponses.aioresponses() as m,
    ):
        yield m
