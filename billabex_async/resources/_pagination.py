"""Resources layer: walking Billabex's cursor pagination."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from billabex_async.errors import PaginationError

T = TypeVar("T")

__all__ = ["walk_pages"]


def _digest(cursor: str) -> bytes:
    # 16 bytes per page whatever the cursor's length: a long walk stays small.
    return hashlib.blake2b(cursor.encode("utf-8", "surrogatepass"), digest_size=16).digest()


async def walk_pages(
    fetch: Callable[[str | None], Awaitable[tuple[list[T], str | None]]],
) -> AsyncIterator[T]:
    """Yield every item, following ``endCursor`` until a page is empty.

    Billabex has no ``hasNextPage``: the walk ends on an empty page, or when a
    page comes back without a cursor. One page is held in memory at a time.
    ``fetch(after)`` returns a page's items and its end cursor. A cursor seen
    before in this walk (A -> B -> A as well as A -> A) would loop forever:
    it raises ``PaginationError`` instead.
    """
    after: str | None = None
    seen: set[bytes] = set()
    pages = 0
    while True:
        items, end_cursor = await fetch(after)
        pages += 1
        if not items:
            return
        for item in items:
            yield item
        if not end_cursor:
            return
        digest = _digest(end_cursor)
        if digest in seen:
            raise PaginationError(
                f"pagination did not advance: page {pages} handed back a cursor "
                "already seen in this walk, so it would never end"
            )
        seen.add(digest)
        after = end_cursor
