"""The planner keys the listing for fuzzy lookups in slices: the event loop keeps turning."""

from __future__ import annotations

import asyncio
import itertools
import random
import string
import uuid

import pytest

from billabex_async import ContactUpsert
from billabex_async.models import Contact
from billabex_async.sync import plan_sync
from billabex_async.sync._plan import KEY_SLICE
from tests._contacts_double import MemoryContacts
from tests._matching_helpers import count_keying


async def test_the_first_fuzzy_lookup_hands_the_loop_back_while_it_keys_the_listing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyed = count_keying(monkeypatch)
    rng = random.Random(3)
    names = ["".join(rng.choices(string.ascii_lowercase, k=13)) for _ in range(3000)]
    listed = [Contact(id=uuid.uuid4(), full_name=name, language="en") for name in names]
    turns: list[int] = []
    done = False

    async def ticker() -> None:
        while not done:
            turns.append(len(keyed))
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    renamed = names[1234][:-1] + ("b" if names[1234][-1] == "a" else "a")
    desired = [ContactUpsert(full_name=renamed, language="en")]  # a fuzzy match only
    plan = await plan_sync(MemoryContacts(listed), uuid.uuid4(), desired)
    turns.append(len(keyed))  # the keying after the last turn counts too
    done = True
    await ticking
    (change,) = plan.changes  # a rename
    assert (change.kind, change.contact_id) == ("update", listed[1234].id)
    assert len(keyed) >= 3000
    assert max(b - a for a, b in itertools.pairwise(turns)) <= KEY_SLICE + 1
