"""Bulk layer: many upserts under one rate limit, streamed, with a per-item report."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from uuid import UUID

import attrs

from billabex_async.models import ContactUpsert
from billabex_async.resources import ContactsResource

DEFAULT_CONCURRENCY = 8


@attrs.frozen
class BulkFailure:
    """One item that failed after retries."""

    index: int
    item: ContactUpsert
    error: BaseException
    account_id: str | None = None


@attrs.define
class BulkReport:
    """What a bulk run did."""

    total: int = 0
    succeeded: int = 0
    failed: list[BulkFailure] = attrs.field(factory=list)


async def bulk_upsert(
    contacts: ContactsResource,
    pairs: Iterable[tuple[str | UUID, ContactUpsert]]
    | AsyncIterable[tuple[str | UUID, ContactUpsert]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> BulkReport:
    raise NotImplementedError


async def bulk_upsert_account(
    contacts: ContactsResource,
    account_id: str | UUID,
    items: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> BulkReport:
    raise NotImplementedError
