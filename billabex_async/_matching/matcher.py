"""Base layer: ``Matcher``, which contact an upsert with a given name and email would update."""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from typing import Generic, TypeVar

from billabex_async._matching.index import DeletionIndex
from billabex_async._matching.rules import normalize_email, normalize_name

__all__ = ["Matcher"]

K = TypeVar("K", bound=Hashable)


class _Entry:
    """What a matcher holds for one contact."""

    __slots__ = ("email", "name", "seq", "slot")

    def __init__(self, seq: int, slot: int, name: str, email: str | None) -> None:
        self.seq = seq  # insertion order, kept across renames: the tie-breaker (oldest wins)
        self.slot = slot  # where the name sits in the fuzzy index
        self.name = name  # normalised
        self.email = email  # normalised


class Matcher(Generic[K]):
    """An index of contacts that answers "which one would an upsert match?".

    Keys are whatever identifies a contact to the caller (a UUID, a row).
    Lookup by email is a dict hit; lookup by name asks a deletion-neighbourhood
    index (``index``) for the few names within the rule's distance,
    in microseconds whatever the account's size, then picks the closest,
    the oldest on a tie.

    >>> m: Matcher[int] = Matcher()
    >>> m.add(1, "John Smith", "john@acme.com")
    >>> m.find("john smith", None), m.find("Jon Smith", None), m.find("X", "JOHN@acme.com")
    (1, 1, 1)

    ``deferred=True`` keys names for the fuzzy index only when a fuzzy lookup
    first needs them, all at once (a bulk load, then lookups: the planner);
    by default each ``add`` takes bounded time (the simulator serving requests).
    """

    __slots__ = ("_by_email", "_by_name", "_entries", "_index", "_key_at", "_last", "_seq")

    def __init__(self, *, deferred: bool = False) -> None:
        # normalised email -> keys holding it, oldest first (the real API may
        # hold duplicates created before an email was set; the oldest wins).
        self._by_email: dict[str, list[K]] = {}
        self._entries: dict[K, _Entry] = {}
        # normalised name -> keys holding exactly it: an exact match is the
        # closest there is, so the common case (a name already there) needs
        # no fuzzy lookup at all.
        self._by_name: dict[str, list[K]] = {}
        self._index = DeletionIndex(deferred=deferred)
        # fuzzy-index slot -> the key whose name is there.
        self._key_at: list[K | None] = []
        self._seq = 0
        # The last name normalised, and its form: a planner asks about one
        # item's name up to three times (exact, fuzzy, add) with the same string.
        self._last = ("", "")

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        emails = sum(len(keys) for keys in self._by_email.values())
        return f"<Matcher contacts={len(self._entries)} emails={emails}>"

    def add(self, key: K, full_name: str, email: str | None) -> None:
        """Index a contact, or re-index it after its name or email changed."""
        name = self._normal(full_name)
        address = normalize_email(email) if email else None
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(self._seq, self._place(key, name), name, None)
            self._entries[key] = entry
            self._seq += 1
            self._by_name.setdefault(name, []).append(key)
        elif entry.name != name:
            self._unindex_name(key, entry)
            entry.slot, entry.name = self._place(key, name), name
            self._by_name.setdefault(name, []).append(key)
        if entry.email != address:
            self._unindex_email(key, entry)
            entry.email = address
            if address is not None:
                keys = self._by_email.setdefault(address, [])
                bisect.insort(keys, key, key=self._seq_of)

    def remove(self, key: K) -> None:
        """Forget a contact; unknown keys are ignored."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._unindex_name(key, entry)
        self._unindex_email(key, entry)

    def find(self, full_name: str, email: str | None) -> K | None:
        """The contact an upsert with this name and email would update, or None."""
        found = self.find_exact(full_name, email)
        return found if found is not None else self.find_by_name(full_name)

    def find_exact(self, full_name: str, email: str | None) -> K | None:
        """``find`` without the fuzzy lookup: the contact with this email, or this exact name."""
        if email:
            keys = self._by_email.get(normalize_email(email))
            if keys:
                return keys[0]
        exact = self._by_name.get(self._normal(full_name))
        return min(exact, key=self._seq_of) if exact else None

    def settle(self, most: int | None = None) -> bool:
        """Key up to ``most`` names for fuzzy lookups (deferred matcher); True when all are.

        A fuzzy lookup keys them all at once; calling this first, in slices,
        lets a caller hand its event loop back in between.
        """
        return self._index.settle(most)

    def find_by_name(self, full_name: str) -> K | None:
        """The closest contact by the fuzzy-name rule alone, or None."""
        wanted = self._normal(full_name)
        exact = self._by_name.get(wanted)
        if exact:
            return min(exact, key=self._seq_of)
        best: K | None = None
        best_rank: tuple[int, int] | None = None
        for distance, slot in self._index.matches(wanted):
            key = self._key_at[slot]
            assert key is not None
            rank = (distance, self._entries[key].seq)
            if best_rank is None or rank < best_rank:
                best, best_rank = key, rank
        return best

    @property
    def index_bytes(self) -> int:
        """Memory of the fuzzy-name index (its table and slot list), for benchmarks."""
        return self._index.nbytes

    def _normal(self, full_name: str) -> str:
        raw, name = self._last
        if full_name is raw:  # the very same string object: strings are immutable
            return name
        name = normalize_name(full_name)
        self._last = (full_name, name)
        return name

    def _seq_of(self, key: K) -> int:
        return self._entries[key].seq

    def _place(self, key: K, name: str) -> int:
        slot = self._index.add(name)
        if slot == len(self._key_at):
            self._key_at.append(key)
        else:
            self._key_at[slot] = key
        return slot

    def _unindex_name(self, key: K, entry: _Entry) -> None:
        self._index.remove(entry.slot)
        self._key_at[entry.slot] = None
        keys = self._by_name[entry.name]
        keys.remove(key)
        if not keys:
            del self._by_name[entry.name]

    def _unindex_email(self, key: K, entry: _Entry) -> None:
        if entry.email is None:
            return
        keys = self._by_email[entry.email]
        keys.remove(key)
        if not keys:
            del self._by_email[entry.email]
