"""An account statement as CSV that opens cleanly in a spreadsheet.

- One header row, then one row per posting, in the statement's order.
- Quoting by the csv module (``QUOTE_MINIMAL``): a memo with a comma, a quote or a line
  break stays one cell.
- Amounts as plain decimals with the currency's exponent ("12345.67", "-3.50", JPY "1250"),
  so the spreadsheet reads numbers, not text; the currency is a column of its own.
- Moments in ISO 8601 UTC ("2026-12-03T13:20:21Z").
- A text cell that a spreadsheet would take for a formula (it starts with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return) is prefixed with an apostrophe: a memo or a
  reference that someone else wrote must not run as a formula on a finance user's machine.
- UTF-8 with a byte order mark, which is how Excel knows the file is UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from services.console.domain.formatting import amount, iso_utc

BOM = "\ufeff"
HEADER = (
    "posted_at",
    "transaction_id",
    "line",
    "kind",
    "memo",
    "external_ref",
    "currency",
    "debit",
    "credit",
    "balance",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str | None) -> str:
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def row(line: Mapping[str, Any], currency: str) -> list[str]:
    return [
        iso_utc(line["posted_at"]),
        str(line["transaction_id"]),
        str(line["line"]),
        safe_text(line["kind"]),
        safe_text(line["memo"]),
        safe_text(line.get("external_ref")),
        currency,
        amount(line["debit"], currency, grouping=False),
        amount(line["credit"], currency, grouping=False),
        amount(line["balance"], currency, grouping=False),
    ]


def _encode(cells: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n").writerow(list(cells))
    return out.getvalue()


def header() -> str:
    return BOM + _encode(HEADER)


def rows(lines: Iterable[Mapping[str, Any]], currency: str) -> Iterator[str]:
    for line in lines:
        yield _encode(row(line, currency))
