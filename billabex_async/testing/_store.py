"""Simulator layer: accounts and contacts in memory, with matching and cursor seeks."""

from __future__ import annotations

import bisect
import random
import uuid

from billabex_async._generated.models import Contact, ContactUpdate, EmailInfo, EmailStatus
from billabex_async._matching import normalize_email
from billabex_async._types import UNSET
from billabex_async.testing._rules import ContactIndex, Matching
from billabex_async.testing._wire import dumps

__all__ = ["Account", "Record", "Store"]


class Record:
    """One stored contact, mutable, with its wire JSON cached between changes."""

    __slots__ = (
        "_wire",
        "email",
        "email_status",
        "full_name",
        "id",
        "is_primary",
        "language",
        "notes",
        "read_only_reason",
        "role",
        "seq",
    )

    def __init__(self, contact_id: str, seq: int, full_name: str, language: str) -> None:
        self.id = contact_id
        # Creation sequence number: the listing order and what cursors point at.
        self.seq = seq
        self.full_name = full_name
        self.language = language
        self.email: str | None = None
        self.email_status = "Valid"
        self.role: str | None = None
        self.notes: str | None = None
        self.is_primary: bool | None = None
        self.read_only_reason: str | None = None
        self._wire: bytes | None = None

    def changed(self) -> None:
        """Drop the cached JSON; call after every mutation."""
        self._wire = None

    def wire(self) -> bytes:
        """The contact as the API sends it (camelCase JSON, every field present)."""
        if self._wire is None:
            email = (
                None if self.email is None else {"address": self.email, "status": self.email_status}
            )
            self._wire = dumps(
                {
                    "id": self.id,
                    "fullName": self.full_name,
                    "email": email,
                    "language": self.language,
                    "role": self.role,
                    "notes": self.notes,
                    "isPrimary": self.is_primary,
                    "readOnlyReason": self.read_only_reason,
                }
            )
        return self._wire

    def model(self) -> Contact:
        """A snapshot as the generated model, for assertions in tests."""
        email = None
        if self.email is not None:
            email = EmailInfo(address=self.email, status=EmailStatus(self.email_status))
        return Contact(
            id=uuid.UUID(self.id),
            full_name=self.full_name,
            language=self.language,
            email=email,
            role=self.role,
            notes=self.notes,
            is_primary=self.is_primary,
            read_only_reason=self.read_only_reason,
        )


class Account:
    """One account's contacts, indexed three ways."""

    __slots__ = ("by_id", "by_seq", "id", "matcher", "seqs")

    def __init__(self, account_id: str, matching: Matching) -> None:
        self.id = account_id
        self.by_id: dict[str, Record] = {}
        # Sorted creation sequence numbers of live contacts: a cursor seek is a
        # bisect here, never a scan from the start.
        self.seqs: list[int] = []
        self.by_seq: dict[int, Record] = {}
        # The upsert rules (email, then fuzzy name); by default the ones
        # contacts.sync predicts with.
        self.matcher: ContactIndex = matching.index()

    def rematch(self, matching: Matching) -> None:
        """Index every contact again under other rules, oldest first (ages are kept)."""
        self.matcher = matching.index()
        for seq in self.seqs:
            record = self.by_seq[seq]
            self.matcher.add(record.id, record.full_name, record.email)

    def page(self, after_seq: int, first: int) -> list[Record]:
        """Up to ``first`` contacts created after ``after_seq``, oldest first."""
        start = bisect.bisect_right(self.seqs, after_seq)
        return [self.by_seq[s] for s in self.seqs[start : start + first]]


class Store:
    """Every account of one simulator; ids come from a seedable generator."""

    def __init__(self, rng: random.Random, matching: Matching | None = None) -> None:
        self._rng = rng
        self._seq = 0
        self.accounts: dict[str, Account] = {}
        self._matching = Matching() if matching is None else matching

    @property
    def matching(self) -> Matching:
        """The upsert matching rules of every account."""
        return self._matching

    @matching.setter
    def matching(self, matching: Matching) -> None:
        self._matching = matching
        for account in self.accounts.values():
            account.rematch(matching)

    def new_id(self) -> str:
        """A fresh UUID4 string, reproducible when the simulator is seeded."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def create_account(self, account_id: str | None = None) -> Account:
        """A new, empty account: ``account_id`` (canonical) or a new id."""
        account = Account(account_id or self.new_id(), self._matching)
        self.accounts[account.id] = account
        return account

    def insert(self, account: Account, fields: ContactUpdate) -> Record:
        """Create a contact from validated fields (fullName and language present)."""
        assert fields.full_name is not UNSET
        assert fields.language is not UNSET
        self._seq += 1
        record = Record(self.new_id(), self._seq, fields.full_name, fields.language)
        account.by_id[record.id] = record
        account.seqs.append(record.seq)  # sequence numbers only grow: stays sorted
        account.by_seq[record.seq] = record
        self._set(record, fields)
        account.matcher.add(record.id, record.full_name, record.email)
        return record

    def apply(self, account: Account, record: Record, fields: ContactUpdate) -> None:
        """Change the fields present (not UNSET); ``email=None`` clears the address.

        A new address starts with status Valid; the same address in another
        case keeps its delivery status.
        """
        indexed = (record.full_name, record.email)
        self._set(record, fields)
        # Re-indexing costs a normalisation and a sort: only when it matters.
        if (record.full_name, record.email) != indexed:
            account.matcher.add(record.id, record.full_name, record.email)

    @staticmethod
    def _set(record: Record, fields: ContactUpdate) -> None:
        if fields.full_name is not UNSET:
            record.full_name = fields.full_name
        if fields.language is not UNSET:
            record.language = fields.language
        if fields.email is not UNSET:
            old = record.email
            if (
                fields.email is None
                or old is None
                or (normalize_email(fields.email) != normalize_email(old))
            ):
                record.email_status = "Valid"
            record.email = fields.email
        if fields.role is not UNSET:
            record.role = fields.role
        if fields.notes is not UNSET:
            record.notes = fields.notes
        if fields.is_primary is not UNSET:
            record.is_primary = fields.is_primary
        record.changed()

    def delete(self, account: Account, record: Record) -> None:
        del account.by_id[record.id]
        del account.by_seq[record.seq]
        del account.seqs[bisect.bisect_left(account.seqs, record.seq)]
        account.matcher.remove(record.id)
