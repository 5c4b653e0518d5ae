"""Examples helper: reproducible contacts whose names never fuzzy-match each other.

Billabex merges an upsert into any contact whose name is within two edits,
so random names that happen to be close would become one contact. The
generator skips such near-duplicates, using the same rules the server uses.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from billabex_async import ContactUpsert
from billabex_async._matching import Matcher

__all__ = ["people"]

# Compact word lists; the first names are pairwise at least three edits apart.
FIRST = "Alice Bruno Chloé Damien Elena Farid Greta Hugo Inès Jonas Kwame Léa Marco".split()  # noqa: SIM905
FIRST += "Nadia Olivier Paula Quentin Rosa Samir Tessa Vera Wout Xenia Yann Zoé".split()  # noqa: SIM905
SYLLABLES = "ba be bo da de di fa fe go ka ki ko la le li lo ma me mi mo na ne no".split()  # noqa: SIM905
SYLLABLES += "ra re ri ro sa se si so ta te ti to va ve vi za zo du ru".split()  # noqa: SIM905
LANGUAGES = ["en", "en", "en", "fr", "de", "nl", "es", "it", "pt"]


def people(n: int, seed: int = 1) -> Iterator[ContactUpsert]:
    """``n`` contacts with distinct names and unique emails, the same for a given seed."""
    rng = random.Random(seed)
    # One index per first name: only names sharing a first name can be close
    # (see FIRST), and small indexes keep each lookup cheap.
    seen: dict[str, Matcher[int]] = {}
    made = 0
    while made < n:
        first = rng.choice(FIRST)
        last = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
        name = f"{first} {last}"
        same_first = seen.setdefault(first, Matcher())
        if same_first.find_by_name(name) is not None:
            continue  # within Billabex's fuzzy distance of an earlier one
        same_first.add(made, name, None)
        ascii_first = first.encode("ascii", "ignore").decode().lower()
        email = f"{ascii_first}.{last.lower()}.{made}@example.com"
        yield ContactUpsert(full_name=name, language=rng.choice(LANGUAGES), email=email)
        made += 1
