"""An in-memory ContactsResource for sync tests that need to see or steer each call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast
from uuid import UUID

from billabex_async._http import Transport
from billabex_async.models import Contact, ContactUpsert
from billabex_async.resources import ContactsResource


class MemoryContacts(ContactsResource):
    """Lists ``listed``; each upsert creates a contact; records every call in ``events``.

    ``events`` holds ("put-start", name), ("put-end", name) and ("delete", id)
    in the order they happen. Upserts stay in flight for a few loop turns, or
    until ``release`` is set when ``hold`` is true.
    """

    def __init__(self, listed: list[Contact] | None = None, *, hold: bool = False) -> None:
        super().__init__(cast(Transport, None))
        self.listed = listed or []
        self.events: list[tuple[str, str]] = []
        self.hold = hold
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def iterate(self, account_id: str | UUID, page_size: int = 100) -> AsyncIterator[Contact]:
        for contact in self.listed:
            yield contact

    async def upsert(
        self, account_id: str | UUID, data: ContactUpsert | None = None, **fields: Any
    ) -> Contact:
        assert data is not None
        self.events.append(("put-start", data.full_name))
        self.started.set()
        if self.hold:
            await self.release.wait()
        for _ in range(3):
            await asyncio.sleep(0)  # stay in flight while the others start
        self.events.append(("put-end", data.full_name))
        return Contact(id=uuid.uuid4(), full_name=data.full_name, language=data.language)

    async def delete(
        self,
        account_id: str | UUID,
        contact_id: str | UUID,
        *,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.events.append(("delete", str(contact_id)))


def listed(*names: str) -> list[Contact]:
    return [Contact(id=uuid.uuid4(), full_name=name, language="en") for name in names]
