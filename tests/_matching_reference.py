"""Test helpers: the matching rules written plainly, to check the indexed matcher against."""

from __future__ import annotations

import unicodedata

from rapidfuzz.distance import Levenshtein


class Reference:
    """The rules, with nothing clever: a list scan."""

    def __init__(self) -> None:
        self.contacts: dict[int, tuple[int, str, str | None]] = {}  # key -> (age, name, email)
        self.seq = 0

    @staticmethod
    def name(full_name: str) -> str:
        return unicodedata.normalize("NFC", full_name).strip().lower()

    def add(self, key: int, full_name: str, email: str | None) -> None:
        known = self.contacts.get(key)
        age = known[0] if known is not None else self.seq
        self.seq += known is None
        address = email.strip().lower() if email else None
        self.contacts[key] = (age, self.name(full_name), address)

    def remove(self, key: int) -> None:
        self.contacts.pop(key, None)

    def find(self, full_name: str, email: str | None) -> int | None:
        if email:
            wanted_email = email.strip().lower()
            owners = [(age, k) for k, (age, _, e) in self.contacts.items() if e == wanted_email]
            if owners:
                return min(owners)[1]
        wanted = self.name(full_name)
        best: tuple[int, int, int] | None = None
        for key, (age, name, _) in self.contacts.items():
            limit = min(2, min(len(wanted), len(name)) // 5)
            distance = Levenshtein.distance(wanted, name)
            if distance <= limit and (best is None or (distance, age) < best[:2]):
                best = (distance, age, key)
        return None if best is None else best[2]


def _brute(stored: dict[int, str], wanted: str) -> set[tuple[int, int]]:
    hits = set()
    for slot, name in stored.items():
        limit = min(2, min(len(wanted), len(name)) // 5)
        distance = Levenshtein.distance(wanted, name)
        if distance <= limit:
            hits.add((distance, slot))
    return hits
