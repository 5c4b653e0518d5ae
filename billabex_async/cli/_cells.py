"""CLI layer: CSV cells a spreadsheet shows as text, never runs as a formula (OWASP).

A cell starting with ``= + - @`` (or a tab or carriage return, which some
spreadsheets skip before looking) is read as a formula by Excel, LibreOffice
and Google Sheets: a contact named ``=HYPERLINK(...)`` would run when the
file is opened. OWASP's advice is to prefix such a cell with a single quote.
The CSV files the CLI writes do so, and its reader takes one such quote off
again, so a file written here reads back to the same contacts: a cell that
already starts with a quote gets one more, so the rule can be undone
exactly.
"""

from __future__ import annotations

__all__ = ["escape_cell", "unescape_cell"]

QUOTE = "'"
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*_TRIGGERS, QUOTE)


def escape_cell(value: object) -> object:
    """A string cell a spreadsheet would run, quoted; anything else as it is."""
    if isinstance(value, str) and value.startswith(_ESCAPED):
        return QUOTE + value
    return value


def unescape_cell(value: str) -> str:
    """Undo ``escape_cell``: a quote before a trigger character (or a quote) comes off."""
    if value.startswith(QUOTE) and value[1:].startswith(_ESCAPED):
        return value[1:]
    return value
