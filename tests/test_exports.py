"""Exports opened in spreadsheets and terminals: formulas neutralized, control
characters stripped, numbers and JSON left exact."""

from __future__ import annotations

import io

import pytest

from django_stripe_portal.management.exports import SafeCSVWriter, csv_cell, table_cell, text_table


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["-12", "+3.5", "-0.25", "1e3", "Dana Li", "", "a=b"])
def test_plain_numbers_and_text_are_left_as_they_are(value: str) -> None:
    assert csv_cell(value) == value


def test_non_strings_pass_and_none_is_empty() -> None:
    assert csv_cell(-5) == -5
    assert csv_cell(None) == ""


def test_the_writer_neutralizes_every_cell() -> None:
    out = io.StringIO()
    SafeCSVWriter(out).writerow(["=1+1", "Dana", -3])
    assert out.getvalue() == "'=1+1,Dana,-3\n"


def test_table_cells_lose_escape_sequences_and_line_breaks() -> None:
    assert table_cell("Dana\x1b[31m Li\nx\u202e") == "Dana[31m Li x"


def test_text_table_aligns_cleaned_cells() -> None:
    table = text_table(("Customer", "Visits"), [("Dana\x07 Li", 3), ("Bo", 12)])
    assert table.splitlines()[:4] == [
        "Customer  Visits",
        "--------  ------",
        "Dana Li        3",
        "Bo            12",
    ]
