"""CLI layer: contacts printed as a table, JSON Lines or CSV (``contacts list --output``).

JSON and CSV are written as they come, a contact at a time, in the shapes
``contacts sync`` reads back; the table is printed once it is complete. Text
from the server is cleaned on its way to the terminal (``_text``); CSV cells
are also made spreadsheet-safe (``_cells``), which the reader undoes.
"""

from __future__ import annotations

import csv
import sys
from typing import Literal

import click
from rich.table import Table

from billabex_async._converter import unstructure
from billabex_async.cli._cells import escape_cell
from billabex_async.cli._render import out
from billabex_async.cli._text import clean, json_line, plain
from billabex_async.models import Contact

__all__ = ["CSV_COLUMNS", "OUTPUTS", "Listing", "Output", "echo_contact"]

Output = Literal["table", "json", "csv"]
OUTPUTS: tuple[Output, ...] = ("table", "json", "csv")
CSV_COLUMNS = (
    *("id", "full_name", "language", "email", "email_status"),
    *("role", "notes", "is_primary"),
)


def echo_contact(contact: Contact) -> None:
    """One contact as a line of JSON, in the wire format (what ``contacts sync`` reads back)."""
    click.echo(json_line(unstructure(contact)))


def _csv_cell(value: object) -> object:
    # Line breaks stay (the CSV quotes them); escapes and other controls go.
    return escape_cell(clean(value, lines=True)) if isinstance(value, str) else value


class Listing:
    """Collects or streams the contacts of ``contacts list``, in one of the ``OUTPUTS``."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self._table = Table("id", "full name", "email", "status", "language", "role")
        # A UUID is copied to other commands: never cut, even on a narrow terminal.
        self._table.columns[0].min_width = 36
        self._table.columns[0].no_wrap = True
        self._csv = csv.writer(sys.stdout, lineterminator="\n") if output == "csv" else None
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)

    def add(self, contact: Contact) -> None:
        if self.output == "json":
            echo_contact(contact)
            return
        email = contact.email
        address, status = (email.address, str(email.status)) if email else ("", "")
        if self._csv is not None:
            primary = "" if contact.is_primary is None else str(contact.is_primary).lower()
            row = [contact.id, contact.full_name, contact.language, address, status]
            row += [contact.role or "", contact.notes or "", primary]
            self._csv.writerow([_csv_cell(cell) for cell in row])
            return
        cells = (contact.full_name, address, status, contact.language, contact.role or "")
        self._table.add_row(str(contact.id), *map(plain, cells))

    def finish(self) -> None:
        if self.output == "table":
            self._table.caption = f"{self._table.row_count} contact(s)"
            out.print(self._table)
        sys.stdout.flush()
