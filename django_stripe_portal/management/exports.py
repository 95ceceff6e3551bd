"""Exports people open in spreadsheets and terminals: CSV cells that cannot run as
formulas (OWASP's CSV-injection advice) and table cells without control characters.
JSON stays exact and goes through neither."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

#: A cell starting with one of these is read as a formula by spreadsheet programs.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


def csv_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` where a spreadsheet would run it as a formula;
    numbers (and strings that are plain numbers, such as ``-12``) are left as they are."""
    if value is None:
        return ""
    if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


class SafeCSVWriter:
    """``csv.writer`` whose every cell goes through :func:`csv_cell`."""

    def __init__(self, out: _Writable) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(value) for value in row])


def table_cell(value: Any) -> str:
    """``value`` as text for a terminal table: control characters (escape sequences,
    bidirectional overrides, line breaks) removed."""
    return _CONTROL_CHARACTERS.sub("", str(value)).replace("\n", " ")


def text_table(header: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> str:
    """Plain aligned columns, the first left-aligned, the others right-aligned, then a
    blank line. An empty header is left out."""
    with_header = any(header)
    cells = [tuple(table_cell(value) for value in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells if with_header else cells[1:]:
        first, *rest = row
        right = [value.rjust(width) for value, width in zip(rest, widths[1:], strict=True)]
        parts = [first.ljust(widths[0]), *right]
        lines.append("  ".join(parts).rstrip())
    if with_header:
        lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n\n"
