"""The README's FakeBillabex example runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from billabex_async import BillabexClient, RateLimit
from billabex_async.testing import FakeBillabex

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_block(containing: str) -> str:
    blocks: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [block] = [b for b in blocks if containing in b]
    return block


async def test_the_fakebillabex_example_passes() -> None:
    namespace: dict[str, Any] = {}
    exec(_python_block("test_upsert_survives_a_flaky_server"), namespace)  # noqa: S102
    async with FakeBillabex(rate_limit=RateLimit(40, 1.0), seed=1) as fake:
        await namespace["test_upsert_survives_a_flaky_server"](fake)


async def test_the_virtual_clock_example_passes() -> None:
    namespace: dict[str, Any] = {}
    exec(_python_block("test_rate_windows_pass_in_virtual_time"), namespace)  # noqa: S102
    namespace.update(FakeBillabex=FakeBillabex, RateLimit=RateLimit, BillabexClient=BillabexClient)
    await namespace["test_rate_windows_pass_in_virtual_time"]()
