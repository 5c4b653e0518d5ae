"""Resources layer: ``client.contacts``, the contacts endpoints, bulk upsert and sync."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING
from uuid import UUID

from billabex_async._http import Transport
from billabex_async._ratelimit import Limiter
from billabex_async._types import DEFAULT_PAGE_SIZE, UNSET, ProgressCallback, Unset
from billabex_async._validation import check_first, check_id, check_idempotency_key
from billabex_async.errors import InvalidRequestError
from billabex_async.models import Contact, ContactCreate, ContactPage, ContactUpdate, ContactUpsert
from billabex_async.resources._bodies import REQUIRED, check_write, parse, request_model, write_body
from billabex_async.resources._pagination import walk_pages

if TYPE_CHECKING:
    # Loaded on first use by the methods that delegate to them: importing the
    # client does not load the engine.
    from billabex_async import bulk, sync

__all__ = ["ContactsResource", "write_body"]


def _contacts_path(account_id: str | UUID) -> str:
    if type(account_id) is str or type(account_id) is UUID:  # hashable, equal means same id
        return _cached_contacts_path(account_id)
    return _checked_contacts_path(account_id)


def _checked_contacts_path(account_id: str | UUID) -> str:
    return f"/accounts/{check_id(account_id, 'account_id')}/contacts"


# Checking and canonicalising an id costs about a microsecond, and a process
# writes to few accounts. A bad id raises, so it is never cached.
_cached_contacts_path = functools.lru_cache(maxsize=4096)(_checked_contacts_path)


def _upsert_path(account_id: str | UUID) -> str:
    if type(account_id) is str or type(account_id) is UUID:
        return _cached_upsert_path(account_id)
    return _checked_upsert_path(account_id)


def _checked_upsert_path(account_id: str | UUID) -> str:
    return f"{_checked_contacts_path(account_id)}/upsert"


# As _cached_contacts_path: every upsert asks for it, bulk once per item.
_cached_upsert_path = functools.lru_cache(maxsize=4096)(_checked_upsert_path)


def _contact_path(account_id: str | UUID, contact_id: str | UUID) -> str:
    return f"{_contacts_path(account_id)}/{check_id(contact_id, 'contact_id')}"


class ContactsResource:
    """``client.contacts``: list, iterate, get, create, update, delete, upsert; bulk and sync.

    Ids are UUIDs given as ``str`` or ``uuid.UUID``. Every write accepts
    ``idempotency_key`` (1 to 255 printable ASCII characters; generated when
    None), sent on every attempt of that call. Bad input raises
    ``InvalidRequestError`` before anything is sent; server errors raise the
    ``APIStatusError`` subclass of their status.

    Built by the client (``client.contacts``) on its ``transport``; not
    meant to be built by hand.
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter these requests go through (None when limiting is off)."""
        return self._transport.limiter

    def __repr__(self) -> str:
        return "<ContactsResource>"

    async def list(
        self,
        account_id: str | UUID,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        *,
        max_retries: int | None = None,
    ) -> ContactPage:
        """One page of the account's contacts: ``first`` of them after cursor ``after``.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            first: Page size, >= 1 (the server may cap it).
            after: ``page.page_info.end_cursor`` of the previous page, asked
                with the same ``first``; None for the first page.
            max_retries: This call's retries, instead of the client's.

        Returns:
            The page: ``.nodes`` and ``.page_info.end_cursor``. An empty page
            is the end (there is no ``hasNextPage``).
        """
        check_first(first)
        params = {"first": str(first)}
        if after is not None:
            params["after"] = after
        response = await self._transport.request(
            "GET", _contacts_path(account_id), params=params, max_retries=max_retries
        )
        return parse(response, ContactPage)

    async def iterate(
        self, account_id: str | UUID, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Contact]:
        """Every contact of the account, page by page, holding one page in memory.

        Stops on an empty page or a missing cursor; a cursor already followed
        in this walk raises ``PaginationError`` instead of looping.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            page_size: Contacts asked per page (``first``), >= 1.

        Yields:
            Each contact, in the server's order.
        """
        check_first(page_size)
        check_id(account_id, "account_id")

        async def fetch(after: str | None) -> tuple[list[Contact], str | None]:
            page = await self.list(account_id, first=page_size, after=after)
            cursor = page.page_info.end_cursor if page.page_info is not None else None
            return page.nodes, cursor

        async for contact in walk_pages(fetch):
            yield contact

    async def get(
        self, account_id: str | UUID, contact_id: str | UUID, *, max_retries: int | None = None
    ) -> Contact:
        """One contact by id. Raises ``NotFoundError`` when the account or contact is absent.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            contact_id: The contact's id (a UUID).
            max_retries: This call's retries, instead of the client's.
        """
        path = _contact_path(account_id, contact_id)
        response = await self._transport.request("GET", path, max_retries=max_retries)
        return parse(response, Contact)

    async def create(
        self,
        account_id: str | UUID,
        data: ContactCreate | None = None,
        *,
        full_name: str | Unset = UNSET,
        language: str | Unset = UNSET,
        email: str | Unset | None = UNSET,
        role: str | Unset | None = UNSET,
        notes: str | Unset | None = UNSET,
        is_primary: bool | Unset | None = UNSET,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> Contact:
        """Create a contact. Not idempotent by itself: prefer ``upsert`` in syncs.

        Sent with ``idempotency_key`` (generated when None). When the outcome
        is unknown (reset, timeout, 502/504), it is retried with the same key
        and body, and the server answers the first result; with a client built
        with ``idempotent_creates=False`` it is not, and ``OutcomeUnknownError``
        (carrying the key and body to send again) is raised instead.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            data: The whole body as a ``ContactCreate``; or pass the fields
                as keywords (not both).
            full_name: The name; not blank.
            language: ISO 639-1 two-letter lowercase code (``en``, ``fr``...).
            email: The address; None means "no email" and is not sent.
            role: Job title or role (None: no role).
            notes: Free text.
            is_primary: Whether this is the account's main contact.
            max_retries: This call's retries, instead of the client's.
            idempotency_key: Sent on every attempt of this write (1 to 255
                printable ASCII characters); a UUID4 when None.

        Returns:
            The contact as the server stored it.
        """
        values = (full_name, language, email, role, notes, is_primary)
        model = request_model(ContactCreate, data, values, required=REQUIRED)
        path = _contacts_path(account_id)
        return await self._write("POST", path, model, max_retries, idempotency_key)

    async def update(
        self,
        account_id: str | UUID,
        contact_id: str | UUID,
        data: ContactUpdate | None = None,
        *,
        full_name: str | Unset = UNSET,
        language: str | Unset = UNSET,
        email: str | Unset | None = UNSET,
        role: str | Unset | None = UNSET,
        notes: str | Unset | None = UNSET,
        is_primary: bool | Unset | None = UNSET,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> Contact:
        """Change only the fields given; ``email=None`` clears the email.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            contact_id: The contact's id (a UUID).
            data: The change as a ``ContactUpdate`` (fields left ``UNSET`` are
                not sent); or pass the fields as keywords (not both). At least
                one field is needed.
            full_name: The new name; not blank.
            language: The new ISO 639-1 two-letter lowercase code.
            email: The new address; None clears it.
            role: The new role; None clears it.
            notes: The new notes; None clears them.
            is_primary: The new main-contact flag.
            max_retries: This call's retries, instead of the client's.
            idempotency_key: Sent on every attempt of this write (1 to 255
                printable ASCII characters); a UUID4 when None.

        Returns:
            The contact after the change.
        """
        values = (full_name, language, email, role, notes, is_primary)
        model = request_model(ContactUpdate, data, values)
        if model == ContactUpdate():
            raise InvalidRequestError("update needs at least one field to change")
        path = _contact_path(account_id, contact_id)
        return await self._write("PATCH", path, model, max_retries, idempotency_key)

    async def delete(
        self,
        account_id: str | UUID,
        contact_id: str | UUID,
        *,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Delete a contact. A retry that finds it gone after a lost answer counts as done.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            contact_id: The contact's id (a UUID).
            max_retries: This call's retries, instead of the client's.
            idempotency_key: Sent on every attempt of this write (1 to 255
                printable ASCII characters); a UUID4 when None.
        """
        path = _contact_path(account_id, contact_id)
        check_idempotency_key(idempotency_key)
        await self._transport.request(
            "DELETE", path, max_retries=max_retries, idempotency_key=idempotency_key
        )

    async def upsert(
        self,
        account_id: str | UUID,
        data: ContactUpsert | None = None,
        *,
        full_name: str | Unset = UNSET,
        language: str | Unset = UNSET,
        email: str | Unset | None = UNSET,
        role: str | Unset | None = UNSET,
        notes: str | Unset | None = UNSET,
        is_primary: bool | Unset | None = UNSET,
        max_retries: int | None = None,
        idempotency_key: str | None = None,
    ) -> Contact:
        """Create the contact, or update the one Billabex matches (email, then fuzzy name).

        Idempotent, hence retried safely: the verb to use for syncs.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            data: The whole body as a ``ContactUpsert``; or pass the fields
                as keywords (not both).
            full_name: The name; not blank.
            language: ISO 639-1 two-letter lowercase code (``en``, ``fr``...).
            email: The address; None means "no email" and is not sent.
            role: Job title or role (None: no role).
            notes: Free text.
            is_primary: Whether this is the account's main contact.
            max_retries: This call's retries, instead of the client's.
            idempotency_key: Sent on every attempt of this write (1 to 255
                printable ASCII characters); a UUID4 when None.

        Returns:
            The contact created or updated.
        """
        # The hot path (every bulk item comes here), written out: no
        # coroutine frame of _write's, and a model given alone taken as is.
        if type(data) is ContactUpsert and (  # and all six keywords left at UNSET:
            full_name is language is email is role is notes is is_primary is UNSET
        ):
            model = data
        else:
            values = (full_name, language, email, role, notes, is_primary)
            model = request_model(ContactUpsert, data, values, required=REQUIRED)
        check_write(model)
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        response = await self._transport.request(
            "PUT",
            _upsert_path(account_id),
            body=write_body(model),
            max_retries=max_retries,
            idempotency_key=idempotency_key,
        )
        return parse(response, Contact)

    async def _write(
        self,
        method: str,
        path: str,
        model: ContactCreate | ContactUpsert | ContactUpdate,
        max_retries: int | None,
        idempotency_key: str | None,
    ) -> Contact:
        """Check a write's fields and key, send it, and read back the contact."""
        check_write(model)
        check_idempotency_key(idempotency_key)
        response = await self._transport.request(
            method,
            path,
            body=write_body(model),
            max_retries=max_retries,
            idempotency_key=idempotency_key,
        )
        return parse(response, Contact)

    async def bulk_upsert(
        self,
        account_id: str | UUID,
        contacts: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
        *,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        report: bulk.BulkReport | None = None,
        resume_from: bulk.BulkReport | None = None,
    ) -> bulk.BulkReport:
        """Upsert many contacts of one account, as fast as the rate limit allows.

        ``contacts`` is consumed lazily, so memory stays bounded. Returns what
        happened to each item; per-item failures are reported, not raised. A
        401, 403 or 404 on the account stops the run early (``report.error``).
        Pass your own ``report`` to keep the partial one if the call is
        cancelled, and ``resume_from=`` that report, with the same input, to
        finish the job: items are sent again with the same idempotency keys.
        See ``billabex_async.bulk.bulk_upsert_account``.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            contacts: An iterable or async iterable of ``ContactUpsert``.
            concurrency: Requests in flight; None follows the rate limit and
                the measured latency.
            on_progress: Called as ``on_progress(done, total)``; ``total`` is
                None while the input's length is unknown.
            report: A ``BulkReport`` to fill in place, kept if the call is
                cancelled.
            resume_from: The report of an earlier run on the same input: items
                it shows done are skipped, the others resent with their keys.

        Returns:
            The report: ``.total``, ``.succeeded``, ``.failed``, ``.error``.
        """
        from billabex_async import bulk  # loaded on first use: see the TYPE_CHECKING import

        return await bulk.bulk_upsert_account(
            self,
            account_id,
            contacts,
            concurrency=concurrency,
            on_progress=on_progress,
            report=report,
            resume_from=resume_from,
        )

    def bulk_upsert_iter(
        self,
        account_id: str | UUID,
        contacts: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
        *,
        concurrency: int | None = None,
        report: bulk.BulkReport | None = None,
        resume_from: bulk.BulkReport | None = None,
    ) -> AsyncGenerator[bulk.BulkOutcome, None]:
        """``bulk_upsert``, yielding each item's outcome as it completes (to persist progress).

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            contacts: An iterable or async iterable of ``ContactUpsert``.
            concurrency: Requests in flight; None follows the rate limit and
                the measured latency.
            report: A ``BulkReport`` to fill in place, kept if the call is
                cancelled.
            resume_from: The report of an earlier run on the same input: items
                it shows done are skipped, the others resent with their keys.

        Yields:
            A ``BulkOutcome`` per item, in completion order.
        """
        from billabex_async import bulk

        return bulk.iter_upsert(
            self,
            account_id,
            contacts,
            concurrency=concurrency,
            report=report,
            resume_from=resume_from,
        )

    async def sync(
        self,
        account_id: str | UUID,
        desired: Iterable[ContactUpsert] | AsyncIterable[ContactUpsert],
        *,
        delete_missing: bool = False,
        dry_run: bool = False,
        max_deletes: int | None = None,
        max_delete_share: float | None = None,
        allow_empty_account: bool = False,
        delete_after_failures: bool = False,
        concurrency: int | None = None,
        on_progress: ProgressCallback | None = None,
        result: sync.SyncResult | None = None,
    ) -> sync.SyncResult:
        """Make the account's contacts match ``desired``, writing only what changed.

        See ``billabex_async.sync.sync_contacts``; ``result.changes`` lists
        each planned (``dry_run``) or applied write. With ``delete_missing``,
        deletes run last and behind guards (``max_deletes``...): a refused run
        raises ``errors.SyncRefusedError`` and writes nothing.

        Args:
            account_id: The account's id (a UUID, as ``str`` or ``uuid.UUID``).
            desired: The contacts the account should have (``ContactUpsert``);
                an iterable or async iterable, read once.
            delete_missing: Delete the account's contacts that no desired one
                matches, after every upsert has settled.
            dry_run: Send no write; return the plan (``result.changes``,
                ``result.refusals``).
            max_deletes: The most contacts this run may delete; by default at
                most 5 or 10 % of those listed, whichever is more.
            max_delete_share: The most it may delete, as a share of the listed
                contacts (0 to 1).
            allow_empty_account: Allow a run that leaves the account with no
                contact.
            delete_after_failures: Run the deletes even after per-item
                failures (never after an early stop or a cancel).
            concurrency: Writes in flight; None follows the rate limit.
            on_progress: Called as ``on_progress(done, total)`` during the
                writes.
            result: A ``SyncResult`` to fill in place, kept if cancelled.

        Returns:
            Counts (``created``, ``updated``, ``unchanged``, ``deleted``),
            ``failed`` and ``changes``.

        Raises:
            SyncRefusedError: A guard refused the run before any write.
        """
        from billabex_async import sync  # loaded on first use: see the TYPE_CHECKING import

        return await sync.sync_contacts(
            self,
            account_id,
            desired,
            delete_missing=delete_missing,
            dry_run=dry_run,
            max_deletes=max_deletes,
            max_delete_share=max_delete_share,
            allow_empty_account=allow_empty_account,
            delete_after_failures=delete_after_failures,
            concurrency=concurrency,
            on_progress=on_progress,
            result=result,
        )
