"""Resources layer: the five contacts endpoints, as typed async methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar
from uuid import UUID

import cattrs

from billabex_async._converter import structure, unstructure
from billabex_async._http import Response, Transport
from billabex_async._http._idempotency import encode_json
from billabex_async._pagination import walk_pages
from billabex_async._ratelimit import Limiter
from billabex_async._types import DEFAULT_PAGE_SIZE, UNSET, Unset
from billabex_async._validation import check_contact, check_first, check_id, check_idempotency_key
from billabex_async.errors import APIResponseValidationError, InvalidRequestError
from billabex_async.models import Contact, ContactCreate, ContactPage, ContactUpdate, ContactUpsert

__all__ = ["ContactsResource", "write_body"]

T = TypeVar("T")

"""Billabex does not publish its default or maximum page size; 100 is assumed safe."""


def _contacts_path(account_id: str | UUID) -> str:
    return f"/accounts/{check_id(account_id, 'account_id')}/contacts"


def _contact_path(account_id: str | UUID, contact_id: str | UUID) -> str:
    return f"{_contacts_path(account_id)}/{check_id(contact_id, 'contact_id')}"


def _parse(response: Response, cls: type[T]) -> T:
    """The body as ``cls``; ``APIResponseValidationError`` when it is not JSON or does not fit."""
    data = response.json()
    try:
        return structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        details = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else []
        message = f"the {response.status} response does not fit {cls.__name__}: " + (
            "; ".join(details) or str(exc)
        )
        text = response.body.decode("utf-8", "replace")
        if response.redact(text) == text:
            raise APIResponseValidationError(message, status=response.status, body=data) from exc
        # The server echoed a secret: keep neither it nor the cause quoting it.
        raise APIResponseValidationError(
            response.redact(message), status=response.status, body=response.text()
        ) from None


def write_body(model: ContactCreate | ContactUpsert | ContactUpdate) -> str:
    """The exact JSON text a write of ``model`` sends (the same bytes on every attempt)."""
    return encode_json(unstructure(model))


def _check_write(model: ContactCreate | ContactUpsert | ContactUpdate) -> None:
    # Every field, types included: the models are plain attrs classes without
    # validators, so `role=5` or `is_primary="yes"` would otherwise be sent.
    check_contact(model)


def _fields(
    full_name: str | Unset,
    language: str | Unset,
    email: str | Unset | None,
    role: str | Unset | None,
    notes: str | Unset | None,
    is_primary: bool | Unset | None,
) -> dict[str, object]:
    """The keyword form of a write, as model field names."""
    return {
        "full_name": full_name,
        "language": language,
        "email": email,
        "role": role,
        "notes": notes,
        "is_primary": is_primary,
    }


def _model(
    cls: type[T],
    data: T | None,
    full_name: str | Unset,
    language: str | Unset,
    email: str | Unset | None,
    role: str | Unset | None,
    notes: str | Unset | None,
    is_primary: bool | Unset | None,
    *,
    required: tuple[str, ...] = (),
) -> T:
    """The request model of a write: ``data`` as given, or built from the keyword fields."""
    if (
        data is not None
        and isinstance(data, cls)
        and full_name is UNSET
        and language is UNSET
        and email is UNSET
        and role is UNSET
        and notes is UNSET
        and is_primary is UNSET
    ):
        return data  # the bulk path: a model and no keywords, nothing to merge
    fields = _fields(full_name, language, email, role, notes, is_primary)
    return _build(cls, data, fields, required=required)


def _build(
    cls: type[T], data: T | None, fields: dict[str, object], *, required: tuple[str, ...] = ()
) -> T:
    """The request model from either ``data`` or the keyword fields, not both."""
    given = {k: v for k, v in fields.items() if v is not UNSET}
    if data is not None:
        if given:
            raise InvalidRequestError(
                f"pass either a {cls.__name__} or keyword fields, not both "
                f"(got {', '.join(sorted(given))})"
            )
        if not isinstance(data, cls):
            raise InvalidRequestError(f"expected a {cls.__name__}, got {type(data).__name__}")
        return data
    missing = [name for name in required if name not in given]
    if missing:
        raise InvalidRequestError(
            f"missing required field(s): {', '.join(missing)}", field=missing[0]
        )
    return cls(**given)


class ContactsResource:
    """``client.contacts``: list, iterate, get, create, update, delete and upsert contacts.

    Ids are UUIDs given as ``str`` or ``uuid.UUID``. Every write accepts
    ``idempotency_key`` (1 to 255 printable ASCII characters; generated when
    None), sent on every attempt of that call. Bad input raises
    ``InvalidRequestError`` before anything is sent; server errors raise the
    ``APIStatusError`` subclass of their status.
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
        """One page of the account's contacts: ``first`` of them after cursor ``after``."""
        check_first(first)
        params = {"first": str(first)}
        if after is not None:
            params["after"] = after
        response = await self._transport.request(
            "GET", _contacts_path(account_id), params=params, max_retries=max_retries
        )
        return _parse(response, ContactPage)

    async def iterate(
        self, account_id: str | UUID, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Contact]:
        """Every contact of the account, page by page, holding one page in memory."""
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
        """One contact by id. Raises ``NotFoundError`` when the account or contact is absent."""
        path = _contact_path(account_id, contact_id)
        response = await self._transport.request("GET", path, max_retries=max_retries)
        return _parse(response, Contact)

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
        """
        model = _model(
            ContactCreate,
            data,
            full_name,
            language,
            email,
            role,
            notes,
            is_primary,
            required=("full_name", "language"),
        )
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
        """Change only the fields given; ``email=None`` clears the email."""
        model = _model(ContactUpdate, data, full_name, language, email, role, notes, is_primary)
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
        """Delete a contact. A retry that finds it gone after a lost answer counts as done."""
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
        """
        model = _model(
            ContactUpsert,
            data,
            full_name,
            language,
            email,
            role,
            notes,
            is_primary,
            required=("full_name", "language"),
        )
        path = f"{_contacts_path(account_id)}/upsert"
        return await self._write("PUT", path, model, max_retries, idempotency_key)

    async def _write(
        self,
        method: str,
        path: str,
        model: ContactCreate | ContactUpsert | ContactUpdate,
        max_retries: int | None,
        idempotency_key: str | None,
    ) -> Contact:
        """Check a write's fields and key, send it, and read back the contact."""
        _check_write(model)
        check_idempotency_key(idempotency_key)
        response = await self._transport.request(
            method,
            path,
            json_body=unstructure(model),
            max_retries=max_retries,
            idempotency_key=idempotency_key,
        )
        return _parse(response, Contact)
