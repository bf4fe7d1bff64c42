"""Cells of the CSV (and any spreadsheet) files the service or the CLI writes, safe to open.

A spreadsheet program reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and
a leading tab or carriage return can hide such a character), so a reference or an error message
echoing ``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0`` from an uploaded file would run when the
report is opened (CSV injection). OWASP's advice: put a single quote before such a cell; the csv
module quotes the rest. Numbers are written as they are (they cannot hold a formula). Every CSV
writer of the project goes through :func:`csv_writer`.
"""

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The text of one cell, with a ``'`` before any text a spreadsheet would read as a formula."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


class SafeWriter:
    """A ``csv.writer`` whose cells pass through :func:`safe_cell`."""

    def __init__(self, handle: _Writable) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])


def csv_writer(handle: _Writable) -> SafeWriter:
    return SafeWriter(handle)
