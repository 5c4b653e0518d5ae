"""Resources layer: walking Billabex's cursor pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["walk_pages"]


async def walk_pages(
    fetch: Callable[[str | None], Awaitable[tuple[list[T], str | None]]],
) -> AsyncIterator[T]:
    """Yield every item, following ``endCursor`` until a page is empty.

    Billabex has no ``hasNextPage``: the walk ends on an empty page, or when a
    page comes back without a cursor. One page is held in memory at a time.
    ``fetch(after)`` returns a page's items and its end cursor.
    """
    after: str | None = None
    while True:
        items, end_cursor = await fetch(after)
        if not items:
            return
        for item in items:
            yield item
        if not end_cursor:
            return
        if end_cursor == after:
            # A server that hands back the cursor it was given would loop forever.
            raise RuntimeError("pagination did not advance: the server repeated a cursor")
        after = end_cursor
