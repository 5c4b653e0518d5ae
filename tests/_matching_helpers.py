"""Matching test helpers: the rules written plainly, a brute-force scan, a keying counter."""

from __future__ import annotations

import unicodedata

import pytest
from rapidfuzz.distance import Levenshtein

from billabex_async._matching import index as fuzzy_index
from billabex_async._matching.keys import index_keys


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


def brute(stored: dict[int, str], wanted: str) -> set[tuple[int, int]]:
    """``(distance, slot)`` of every stored name within the rule of ``wanted``: a scan."""
    hits = set()
    for slot, name in stored.items():
        limit = min(2, min(len(wanted), len(name)) // 5)
        distance = Levenshtein.distance(wanted, name)
        if distance <= limit:
            hits.add((distance, slot))
    return hits


def count_keying(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name the fuzzy index computes keys for from now on, in order (the test's list)."""
    keyed: list[str] = []

    def counting(name: str) -> set[int]:
        keyed.append(name)
        return index_keys(name)

    # Where the index looks the function up, so every keying goes through it.
    monkeypatch.setattr(fuzzy_index, "index_keys", counting)
    return keyed
