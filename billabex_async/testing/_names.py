"""Simulator layer: plausible, mostly far-apart names for bulk seeding."""

from __future__ import annotations

import random

__all__ = ["fake_person"]

_FIRST = [
    "Alice",
    "Bruno",
    "Chloé",
    "Damien",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Inès",
    "Jonas",
    "Karim",
    "Léa",
    "Marco",
    "Nadia",
    "Olivier",
    "Paula",
    "Quentin",
    "Rosa",
    "Samir",
    "Tessa",
    "Ugo",
    "Vera",
    "Wout",
    "Xenia",
    "Yann",
    "Zoé",
    "Amara",
    "Bjorn",
    "Carmen",
    "Dries",
    "Emeka",
    "Fatou",
    "Giulia",
    "Hamza",
    "Ingrid",
    "João",
    "Katja",
    "Lars",
    "Mei",
    "Nils",
]
_SYLLABLES = [
    "ba",
    "be",
    "bo",
    "da",
    "de",
    "di",
    "fa",
    "fe",
    "go",
    "ka",
    "ki",
    "ko",
    "la",
    "le",
    "li",
    "lo",
    "ma",
    "me",
    "mi",
    "mo",
    "na",
    "ne",
    "no",
    "ra",
    "re",
    "ri",
    "ro",
    "sa",
    "se",
    "si",
    "so",
    "ta",
    "te",
    "ti",
    "to",
    "va",
    "ve",
    "vi",
    "za",
    "zo",
    "du",
    "ru",
]


def fake_person(rng: random.Random, index: int) -> tuple[str, str]:
    """A full name and a unique email (``index`` makes the address unique).

    Three random syllables make ~74,000 surnames, so two seeded names are
    rarely within the fuzzy-matching distance of each other.
    """
    first = rng.choice(_FIRST)
    last = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()
    ascii_first = first.encode("ascii", "ignore").decode().lower()
    return f"{first} {last}", f"{ascii_first}.{last.lower()}.{index}@example.com"
