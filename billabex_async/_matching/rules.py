"""Base layer: Billabex's rules for when two emails or two full names are the same contact."""

from __future__ import annotations

import unicodedata

from rapidfuzz.distance import Levenshtein

__all__ = [
    "MAX_NAME_DISTANCE",
    "name_threshold",
    "names_match",
    "normalize_email",
    "normalize_name",
    "normalized_names_match",
    "threshold",
]

MAX_NAME_DISTANCE = 2
"""No two names further apart than this ever match, whatever their length."""


def normalize_email(address: str) -> str:
    """The form two addresses are compared in: stripped, lower-cased."""
    return address.strip().lower()


def normalize_name(full_name: str) -> str:
    """The form two names are compared in: NFC, stripped, lower-cased."""
    return unicodedata.normalize("NFC", full_name).strip().lower()


def threshold(a: int, b: int) -> int:
    """``name_threshold`` of two normalised names of these lengths."""
    return min(MAX_NAME_DISTANCE, min(a, b) // 5)


def name_threshold(a: str, b: str) -> int:
    """Largest edit distance at which two normalised names still match.

    ``min(2, 20 % of the shorter length)``; distances are whole numbers, so
    "at most 20 % of n" is "at most n // 5": a 4-letter name must match
    exactly, a 5-letter one tolerates 1 edit, a 10-letter one or longer 2.
    """
    return threshold(len(a), len(b))


def names_match(a: str, b: str) -> bool:
    """Whether Billabex would match these two full names (raw, not normalised)."""
    return normalized_names_match(normalize_name(a), normalize_name(b))


def normalized_names_match(a: str, b: str) -> bool:
    """``names_match`` of two names already normalised (``normalize_name``)."""
    limit = threshold(len(a), len(b))
    return Levenshtein.distance(a, b, score_cutoff=limit) <= limit
