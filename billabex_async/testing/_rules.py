"""Simulator layer: configurable upsert matching, to play servers that match differently.

Billabex publishes its matching rules only in outline: how it folds case,
breaks ties or bounds the fuzzy distance is not documented. The default
``Matching()`` is the reading the SDK predicts with (``billabex_async._matching``,
used as is, fast). Any other ``Matching`` is served by ``RuleMatcher``, a
plain scan over the account (fine for test-sized accounts), so a test can
check that the SDK stays safe when the server disagrees with its prediction.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Literal, Protocol

import attrs
from rapidfuzz.distance import Levenshtein

from billabex_async._matching import MAX_NAME_DISTANCE, Matcher

__all__ = ["ContactIndex", "Matching", "RuleMatcher"]


class ContactIndex(Protocol):
    """What an account needs from a matcher: index contacts, find an upsert's target."""

    def add(self, key: str, full_name: str, email: str | None) -> None: ...
    def remove(self, key: str) -> None: ...
    def find(self, full_name: str, email: str | None) -> str | None: ...


@attrs.frozen(kw_only=True)
class Matching:
    """How the simulator's ``PUT .../contacts/upsert`` picks the contact to update.

    The defaults are the documented rules. Variants:

    - ``fold="casefold"`` folds case with ``str.casefold`` instead of ``str.lower``
      (names and emails): "Hans Groß" then matches "HANS GROSS" exactly;
    - ``ties="newest"``: among equally good candidates (equal name distance, or
      several contacts with the email) the most recently created wins;
    - ``closest=False``: any qualifying name will do, the first in ``ties`` order,
      whatever its distance;
    - ``max_distance`` and ``share``: a name matches within
      ``min(max_distance, floor(share * shorter length))`` edits (defaults 2 and 0.2).
    """

    fold: Literal["lower", "casefold"] = "lower"
    ties: Literal["oldest", "newest"] = "oldest"
    closest: bool = True
    max_distance: int = attrs.field(default=MAX_NAME_DISTANCE)
    share: float = attrs.field(default=0.2)

    @max_distance.validator
    def _check_distance(self, _: object, value: int) -> None:
        if value < 0:
            raise ValueError(f"max_distance must be >= 0, got {value}")

    @share.validator
    def _check_share(self, _: object, value: float) -> None:
        if not 0 <= value <= 1:
            raise ValueError(f"share must be between 0 and 1, got {value}")

    @property
    def documented(self) -> bool:
        """Whether these are the documented rules (served by the SDK's own matcher)."""
        return self == Matching()

    def index(self) -> ContactIndex:
        """A new, empty index applying these rules."""
        if self.documented:
            matcher: Matcher[str] = Matcher()
            return matcher
        return RuleMatcher(self)


class RuleMatcher:
    """A ``Matching`` applied by scanning every contact: simple, O(contacts) per lookup."""

    __slots__ = ("_contacts", "_fold", "_rules", "_seq")

    def __init__(self, rules: Matching) -> None:
        self._rules = rules
        fold: Callable[[str], str] = str.casefold if rules.fold == "casefold" else str.lower
        self._fold = fold
        # key -> (creation rank, folded name, folded email or None); a re-add
        # keeps the rank, as a rename keeps a contact's age.
        self._contacts: dict[str, tuple[int, str, str | None]] = {}
        self._seq = 0

    def __repr__(self) -> str:
        return f"<RuleMatcher {self._rules!r} contacts={len(self._contacts)}>"

    def add(self, key: str, full_name: str, email: str | None) -> None:
        known = self._contacts.get(key)
        if known is None:
            rank, self._seq = self._seq, self._seq + 1
        else:
            rank = known[0]
        folded = self._fold(email.strip()) if email else None
        self._contacts[key] = (rank, self._name(full_name), folded)

    def remove(self, key: str) -> None:
        self._contacts.pop(key, None)

    def find(self, full_name: str, email: str | None) -> str | None:
        newest = self._rules.ties == "newest"
        if email:
            wanted_email = self._fold(email.strip())
            owners = [
                (rank, key) for key, (rank, _, e) in self._contacts.items() if e == wanted_email
            ]
            if owners:
                return max(owners)[1] if newest else min(owners)[1]
        wanted = self._name(full_name)
        best: tuple[int, int, str] | None = None
        for key, (rank, name, _) in self._contacts.items():
            limit = self._limit(wanted, name)
            distance = Levenshtein.distance(wanted, name, score_cutoff=limit)
            if distance > limit:
                continue
            # Smaller sorts first: distance (unless any qualifying one will do), then age.
            candidate = (distance if self._rules.closest else 0, -rank if newest else rank, key)
            if best is None or candidate < best:
                best = candidate
        return None if best is None else best[2]

    def _name(self, full_name: str) -> str:
        return self._fold(unicodedata.normalize("NFC", full_name).strip())

    def _limit(self, a: str, b: str) -> int:
        # The epsilon keeps 0.2 * 15 from landing a hair under 3.
        share = int(min(len(a), len(b)) * self._rules.share + 1e-9)
        return min(self._rules.max_distance, share)
