"""Base layer: Billabex's upsert matching rules, shared by the simulator and sync.

PUT .../contacts/upsert finds the contact to update like this:

1. a contact whose email address equals the given one, case-insensitively;
2. otherwise the contact whose full name is closest by Levenshtein distance,
   when that distance is at most ``min(2, 20 % of the shorter name's length)``,
   names compared case-insensitively, stripped of surrounding whitespace, in
   characters (NFC, so "José" and "Jose" are one edit apart);
3. several qualify: the closest wins; on a tie, the oldest (first added).

The simulator applies these rules and ``contacts.sync`` predicts them, so both
use this one package: the rules (``rules``), the contact index that applies
them (``matcher``) and its fuzzy-name index (``index`` over ``keys`` and
``table``). The edit distance comes from rapidfuzz, whose C++ batch scorer
keeps a 10,000-name account fast.
"""

from __future__ import annotations

from billabex_async._matching.matcher import Matcher
from billabex_async._matching.rules import (
    MAX_NAME_DISTANCE,
    name_threshold,
    names_match,
    normalize_email,
    normalize_name,
    normalized_names_match,
)

__all__ = [
    "MAX_NAME_DISTANCE",
    "Matcher",
    "name_threshold",
    "names_match",
    "normalize_email",
    "normalize_name",
    "normalized_names_match",
]
