"""The README's quickstart block, as the quickstart test and the wheel check run it."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
# What the block prints against an empty account, as its comments say.
QUICKSTART_PRINTS = ["John Smith john@acme.com", "John Smith None"]


def first_python_block() -> str:
    """The README's first ```python block, which must be its quickstart."""
    text = README.read_text()
    quickstart = text.index("## Quickstart")
    match = re.search(r"```python\n(.*?)```", text, flags=re.S)
    assert match is not None
    assert match.start() > quickstart, "the first Python block is the quickstart"
    return match[1]
