"""Pagination always ends: any cursor seen before in the walk raises PaginationError."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billabex_async import errors
from billabex_async.resources._pagination import walk_pages

from ._scripted import ACCOUNT, client_for, contact_json, reply
from .conftest import ScriptedServer


def page(cursor: str | None) -> Any:
    return reply(
        200, {"nodes": [contact_json(id=str(uuid.uuid4()))], "pageInfo": {"endCursor": cursor}}
    )


@pytest.mark.parametrize(
    "cursors",
    [["a", "a"], ["a", "b", "a"], ["a", "b", "c", "b"], ["a", "b", "c", "d", "a"]],
    ids=["A-A", "A-B-A", "A-B-C-B", "A-B-C-D-A"],
)
async def test_a_cursor_cycle_ends_the_walk_with_a_typed_error(
    scripted: ScriptedServer, cursors: list[str]
) -> None:
    scripted.script(*(page(c) for c in cursors))
    scripted.default = page(cursors[-1])  # were the walk to go on, it would loop
    seen: list[Any] = []

    async def walk(client: Any) -> None:
        async for contact in client.contacts.iterate(ACCOUNT, page_size=1):
            seen.append(contact)

    async with client_for(scripted) as client:
        with pytest.raises(errors.PaginationError, match="already seen"):
            await walk(client)
    assert len(scripted.seen) == len(cursors)  # stopped at the first repeat
    assert len(seen) == len(cursors)  # every page served was yielded
    assert isinstance(scripted.seen[-1].query.get("after"), str)


async def test_distinct_cursors_are_followed_to_the_end(scripted: ScriptedServer) -> None:
    scripted.script(page("a"), page("b"), page("c"), reply(200, {"nodes": [], "pageInfo": {}}))
    async with client_for(scripted) as client:
        got = [c async for c in client.contacts.iterate(ACCOUNT, page_size=1)]
    assert len(got) == 3


@given(st.lists(st.text(min_size=1, max_size=6), max_size=30))
def test_any_cursor_sequence_ends_after_at_most_one_repeat(cursors: list[str]) -> None:
    fetched: list[str | None] = []

    async def fetch(after: str | None) -> tuple[list[int], str | None]:
        fetched.append(after)
        i = len(fetched) - 1
        if i >= len(cursors):
            return [], None
        return [i], cursors[i]

    async def walk() -> list[int]:
        return [item async for item in walk_pages(fetch)]

    repeats = len(cursors) != len(set(cursors))
    if repeats:
        with pytest.raises(errors.PaginationError):
            asyncio.run(walk())
        first_repeat = next(i for i, c in enumerate(cursors) if c in cursors[:i])
        assert len(fetched) == first_repeat + 1
    else:
        assert asyncio.run(walk()) == list(range(len(cursors)))
    assert len(set(filter(None, fetched))) == len(list(filter(None, fetched)))  # none sent twice
