"""Test helpers for bulk runs: far-apart people, a counted endless input, a stalled resource."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from typing import Any, cast
from uuid import UUID

from billabex_async import ContactUpsert
from billabex_async._http import Transport
from billabex_async.models import Contact
from billabex_async.resources import ContactsResource

FIRST = ["Alice", "Bruno", "Chloe", "Damien", "Elena", "Farid", "Greta", "Hugo"]
LAST = ["Okonkwo", "Lindqvist", "Ferreira", "Nakamura", "Abernathy", "Kowalczyk", "Delacroix"]


def person(i: int, *, language: str = "en") -> ContactUpsert:
    """Distinct, far-apart names: a first and last name plus a distinct number word."""
    word = "".join("bdfgklmnprstvz"[int(d) + 2] + "aeiou"[int(d) % 5] for d in str(i))
    name = f"{FIRST[i % 8]} {LAST[i % 7]} {word.capitalize()}"
    return ContactUpsert(full_name=name, language=language, email=f"p{i}@example.com")


class Counted:
    """An endless generator that counts what was pulled from it."""

    def __init__(self) -> None:
        self.pulled = 0

    def __iter__(self) -> Iterator[ContactUpsert]:
        for i in itertools.count():
            self.pulled += 1
            yield person(i)


class StalledContacts(ContactsResource):
    """Answers the first upsert, then holds the others "in flight" until released."""

    def __init__(self, in_flight: int) -> None:
        super().__init__(cast(Transport, None))
        self.calls = 0
        self.in_flight = in_flight
        self.started = asyncio.Event()  # set once `in_flight` upserts are held
        self.release = asyncio.Event()

    async def upsert(
        self, account_id: str | UUID, data: ContactUpsert | None = None, **_: Any
    ) -> Contact:
        self.calls += 1
        if self.calls > 1:
            if self.calls == 1 + self.in_flight:
                self.started.set()
            await self.release.wait()
        assert data is not None
        return Contact(id=uuid.uuid4(), full_name=data.full_name, language=data.language)
