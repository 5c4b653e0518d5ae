"""Base layer: Billabex's upsert matching rules, shared by the simulator and sync.

PUT .../contacts/upsert finds the contact to update like this:

1. a contact whose email address equals the given one, case-insensitively;
2. otherwise the contact whose full name is closest by Levenshtein distance,
   when that distance is at most ``min(2, 20 % of the shorter name's length)``,
   names compared case-insensitively, stripped of surrounding whitespace, in
   characters (NFC, so "José" and "Jose" are one edit apart);
3. several qualify: the closest wins; on a tie, the oldest (first added).

The simulator applies these rules and ``contacts.sync`` predicts them, so both
use this one module; the edit distance comes from rapidfuzz, whose C++ batch
scorer keeps a 10,000-name account fast.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable
from typing import Generic, TypeVar

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

__all__ = [
    "MAX_NAME_DISTANCE",
    "Matcher",
    "name_threshold",
    "names_match",
    "normalize_email",
    "normalize_name",
]

K = TypeVar("K", bound=Hashable)

MAX_NAME_DISTANCE = 2
"""No two names further apart than this ever match, whatever their length."""


def normalize_email(address: str) -> str:
    """The form two addresses are compared in: stripped, lower-cased."""
    return address.strip().lower()


def normalize_name(full_name: str) -> str:
    """The form two names are compared in: NFC, stripped, lower-cased."""
    return unicodedata.normalize("NFC", full_name).strip().lower()


def name_threshold(a: str, b: str) -> int:
    """Largest edit distance at which two normalised names still match.

    ``min(2, 20 % of the shorter length)``; distances are whole numbers, so
    "at most 20 % of n" is "at most n // 5": a 4-letter name must match
    exactly, a 5-letter one tolerates 1 edit, a 10-letter one or longer 2.
    """
    return min(MAX_NAME_DISTANCE, min(len(a), len(b)) // 5)


def names_match(a: str, b: str) -> bool:
    """Whether Billabex would match these two full names (raw, not normalised)."""
    na, nb = normalize_name(a), normalize_name(b)
    limit = name_threshold(na, nb)
    return Levenshtein.distance(na, nb, score_cutoff=limit) <= limit


class Matcher(Generic[K]):
    """An index of contacts that answers "which one would an upsert match?".

    Keys are whatever identifies a contact to the caller (a UUID, a row).
    Lookup by email is a dict hit. Lookup by name scores, in rapidfuzz's C++
    batch scorer, only the names whose length is within two characters of
    the wanted one (no longer name can be within two edits), with the cutoff
    at the largest possible threshold; the per-pair threshold is then applied
    to the few candidates left.

    >>> m: Matcher[int] = Matcher()
    >>> m.add(1, "John Smith", "john@acme.com")
    >>> m.find("john smith", None), m.find("Jon Smith", None), m.find("X", "JOHN@acme.com")
    (1, 1, 1)
    """

    __slots__ = ("_by_email", "_by_length", "_email_of", "_names", "_order", "_seq")

    def __init__(self) -> None:
        # normalised email -> keys holding it, oldest first (the real API may
        # hold duplicates created before an email was set; the oldest wins).
        self._by_email: dict[str, list[K]] = {}
        # key -> its normalised email, to unindex on change.
        self._email_of: dict[K, str] = {}
        # key -> normalised name.
        self._names: dict[K, str] = {}
        # name length -> {key: normalised name}: the batch scorer's choices.
        self._by_length: dict[int, dict[K, str]] = {}
        # key -> insertion sequence number, the tie-breaker (oldest wins).
        self._order: dict[K, int] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<Matcher contacts={len(self._names)} emails={len(self._email_of)}>"

    def add(self, key: K, full_name: str, email: str | None) -> None:
        """Index a contact, or re-index it after its name or email changed."""
        if key in self._names:
            self._unindex(key)
        else:
            self._order[key] = self._seq
            self._seq += 1
        name = normalize_name(full_name)
        self._names[key] = name
        self._by_length.setdefault(len(name), {})[key] = name
        if email:
            address = normalize_email(email)
            self._email_of[key] = address
            self._by_email.setdefault(address, []).append(key)
            self._by_email[address].sort(key=self._order.__getitem__)

    def remove(self, key: K) -> None:
        """Forget a contact; unknown keys are ignored."""
        if key not in self._names:
            return
        self._unindex(key)
        del self._names[key]
        del self._order[key]

    def find(self, full_name: str, email: str | None) -> K | None:
        """The contact an upsert with this name and email would update, or None."""
        if email:
            keys = self._by_email.get(normalize_email(email))
            if keys:
                return keys[0]
        return self.find_by_name(full_name)

    def find_by_name(self, full_name: str) -> K | None:
        """The closest contact by the fuzzy-name rule alone, or None."""
        wanted = normalize_name(full_name)
        size = len(wanted)
        if name_threshold(wanted, wanted) == 0:
            # Short names match only exactly, so only names of the same length.
            same = self._by_length.get(size, {})
            exact = [k for k, n in same.items() if n == wanted]
            return min(exact, key=self._order.__getitem__) if exact else None
        best: K | None = None
        best_rank: tuple[int, int] | None = None
        for length in range(size - MAX_NAME_DISTANCE, size + MAX_NAME_DISTANCE + 1):
            bucket = self._by_length.get(length)
            if not bucket:
                continue
            hits = process.extract(
                wanted,
                bucket,
                scorer=Levenshtein.distance,
                score_cutoff=MAX_NAME_DISTANCE,
                limit=None,
            )
            for name, distance, key in hits:
                if distance > name_threshold(wanted, name):
                    continue
                rank = (int(distance), self._order[key])
                if best_rank is None or rank < best_rank:
                    best, best_rank = key, rank
        return best

    def _unindex(self, key: K) -> None:
        old = self._names[key]
        bucket = self._by_length[len(old)]
        del bucket[key]
        if not bucket:
            del self._by_length[len(old)]
        address = self._email_of.pop(key, None)
        if address is None:
            return
        keys = self._by_email[address]
        keys.remove(key)
        if not keys:
            del self._by_email[address]
