"""Simulator layer: FakeBillabex's direct access to stored contacts, for seeding and assertions."""

from __future__ import annotations

import random
from uuid import UUID

from billabex_async._generated.models import Contact, ContactUpdate
from billabex_async._types import canonical_uuid
from billabex_async.testing._core import Core
from billabex_async.testing._names import fake_person
from billabex_async.testing._store import Account, Record

__all__ = ["ContactsAdmin"]


class ContactsAdmin:
    """Read and change the simulator's contacts without a request (no auth, no limit)."""

    _core: Core

    def contacts(self, account_id: str) -> list[Contact]:
        """The contacts of ``account_id`` in creation order, as generated models."""
        account = self._account(account_id)
        return [account.by_seq[seq].model() for seq in account.seqs]

    def contact(self, account_id: str, contact_id: str | UUID) -> Contact:
        """The stored contact ``contact_id`` of ``account_id``; KeyError if unknown."""
        return self._record(account_id, contact_id).model()

    def add_contact(
        self,
        account_id: str,
        *,
        full_name: str,
        language: str = "en",
        email: str | None = None,
        email_status: str = "Valid",
        role: str | None = None,
        notes: str | None = None,
        is_primary: bool | None = None,
        read_only_reason: str | None = None,
    ) -> Contact:
        """Store a contact directly, without a request or validation.

        Args:
            account_id: The account to store it in (``fake.account_id``, or
                one ``create_account()`` made).
            full_name: Its name.
            language: Its ISO 639-1 code.
            email: Its address, or None.
            email_status: The address's delivery status (``Valid``, ``Bounced``...).
            role: Its role, or None.
            notes: Its notes, or None.
            is_primary: Its main-contact flag, or None.
            read_only_reason: Marks it as owned by a connector (API writes get 403).

        Returns:
            The contact as the API would return it.
        """
        account = self._account(account_id)
        fields = ContactUpdate(
            full_name=full_name,
            language=language,
            email=email,
            role=role,
            notes=notes,
            is_primary=is_primary,
        )
        record = self._core.store.insert(account, fields)
        record.email_status = email_status
        record.read_only_reason = read_only_reason
        record.changed()
        return record.model()

    def seed_contacts(
        self, account_id: str, n: int, *, email_ratio: float = 1.0, language: str = "en"
    ) -> None:
        """Store ``n`` generated contacts in ``account_id``; ``email_ratio`` of them get an email.

        Names are random but reproducible with ``seed``; emails are unique;
        every one speaks ``language``.
        """
        account = self._account(account_id)
        store = self._core.store
        # Drawn from the id generator: reproducible exactly when ids are.
        names = random.Random(store.new_id())
        for i in range(n):
            full_name, email = fake_person(names, len(account.seqs) + i)
            has_email = names.random() < email_ratio
            fields = ContactUpdate(
                full_name=full_name, language=language, email=email if has_email else None
            )
            store.insert(account, fields)

    def remove_contact(self, account_id: str, contact_id: str | UUID) -> None:
        """Delete the stored contact ``contact_id`` of ``account_id`` without a request."""
        self._core.store.delete(self._account(account_id), self._record(account_id, contact_id))

    def set_email_status(self, account_id: str, contact_id: str | UUID, status: str) -> Contact:
        """Set a contact's email ``status`` (``"Bounced"``, ``"Complained"``...) as Billabex would.

        ``account_id`` and ``contact_id`` name the contact; ValueError if it has no email.
        """
        record = self._record(account_id, contact_id)
        if record.email is None:
            raise ValueError("this contact has no email address")
        record.email_status = status
        record.changed()
        return record.model()

    def set_read_only(
        self, account_id: str, contact_id: str | UUID, reason: str | None = "Owned by a connector"
    ) -> Contact:
        """Mark a contact as owned by a connector (writes get 403), ``reason`` saying why.

        ``account_id`` and ``contact_id`` name the contact; a ``reason`` of None
        makes it writable again.
        """
        record = self._record(account_id, contact_id)
        record.read_only_reason = reason
        record.changed()
        return record.model()

    def _account(self, account_id: str) -> Account:
        try:
            return self._core.store.accounts[canonical_uuid(account_id) or ""]
        except KeyError:
            raise KeyError(f"unknown account {account_id}") from None

    def _record(self, account_id: str, contact_id: str | UUID) -> Record:
        account = self._account(account_id)
        try:
            return account.by_id[canonical_uuid(contact_id) or ""]
        except KeyError:
            raise KeyError(f"unknown contact {contact_id}") from None
