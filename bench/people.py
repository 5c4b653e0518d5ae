"""Bench support: distinct people to upsert, and the audit of what the server stored.

Billabex matches an upsert to an existing contact by email, then by a fuzzy
name (Levenshtein distance up to 2). "Person 0001" and "Person 0002" would
merge, so every benchmark person gets a random 12-letter name (two random
6-letter words are ~10 edits apart) and a unique email.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Audit", "Person", "audit", "people", "person_stream"]


@dataclass(frozen=True, slots=True)
class Person:
    """One upsert, in the shape every contender sends."""

    full_name: str
    email: str
    language: str = "en"

    def wire(self) -> dict[str, str]:
        """The JSON body of PUT .../contacts/upsert."""
        return {"fullName": self.full_name, "language": self.language, "email": self.email}


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=6)).capitalize()


def person_stream(seed: int, tag: str) -> Iterator[Person]:
    """An endless stream of distinct people; ``tag`` keeps emails apart across runs."""
    # Stateless on purpose (the memory benchmark streams a million of these):
    # two of 20,000 random 12-letter names land within 2 edits with odds ~1e-4.
    rng = random.Random(seed)
    index = 0
    while True:
        name = f"{_word(rng)} {_word(rng)}"
        yield Person(name, f"{name.replace(' ', '.').lower()}.{tag}{index}@example.com")
        index += 1


def people(n: int, *, seed: int, tag: str) -> list[Person]:
    """``n`` distinct people, reproducible from ``seed``."""
    stream = person_stream(seed, tag)
    return [next(stream) for _ in range(n)]


@dataclass(frozen=True, slots=True)
class Audit:
    """Sent items compared with the contacts the server holds afterwards."""

    stored: int
    lost: int
    """Items sent (or meant to be sent) that no stored contact carries."""
    duplicated: int
    """Items held by two stored contacts or more."""


def audit(sent: Sequence[Person], stored_emails: Iterable[str | None]) -> Audit:
    """Match items to stored contacts by email (every item has a unique one)."""
    emails = list(stored_emails)
    counts = Counter(e.lower() for e in emails if e is not None)
    lost = sum(1 for p in sent if counts[p.email.lower()] == 0)
    duplicated = sum(1 for p in sent if counts[p.email.lower()] > 1)
    return Audit(stored=len(emails), lost=lost, duplicated=duplicated)
