"""Sync layer: make an account's contacts match a desired list, sending only changes."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from uuid import UUID

import attrs

from billabex_async.bulk import BulkFailure
from billabex_async.models import ContactUpsert
from billabex_async.resources import ContactsResource


@attrs.define
class SyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: list[BulkFailure] = attrs.field(factory=list)


async def sync_contacts(
    contacts: ContactsResource,
    account_id: str | UUID,
    desired: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
    *,
    delete_missing: bool = False,
    dry_run: bool = False,
    concurrency: int = 8,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> SyncResult:
    raise NotImplementedError
