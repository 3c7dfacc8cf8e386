"""The statement CSV: a header row, real quoting, numbers a spreadsheet reads as numbers,
no formula from a memo."""

from __future__ import annotations

import csv
import io

from services.console.domain import statement_csv


def line(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "posted_at": "2026-12-03T13:20:21+00:00",
        "transaction_id": "5f0c3f4e-0000-4000-8000-000000000001",
        "line": 1,
        "kind": "staff",
        "memo": "plain",
        "external_ref": None,
        "debit": 125_000,
        "credit": 0,
        "balance": 125_000,
    }
    return {**base, **kw}


def parse(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")  # Excel reads UTF-8 only with the BOM
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_header_then_one_row_per_posting_with_exponent_amounts() -> None:
    text = statement_csv.header() + "".join(
        statement_csv.rows([line(), line(line=2, debit=0, credit=50, balance=-3)], "USD")
    )
    rows = parse(text)
    assert rows[0] == list(statement_csv.HEADER)
    assert rows[1][0] == "2026-12-03T13:20:21Z"
    assert rows[1][6:] == ["USD", "1250.00", "0.00", "1250.00"]
    assert rows[2][7:] == ["0.00", "0.50", "-0.03"]
    assert "\r\n" in text  # RFC 4180 line ends


def test_commas_quotes_and_line_breaks_stay_in_one_cell() -> None:
    memo = 'Invoice 7, "urgent"\nsecond line'
    rows = parse(statement_csv.header() + "".join(statement_csv.rows([line(memo=memo)], "USD")))
    assert len(rows) == 2
    assert rows[1][4] == memo


def test_a_memo_that_looks_like_a_formula_is_text() -> None:
    rows = parse(
        statement_csv.header()
        + "".join(
            statement_csv.rows(
                [line(memo='=HYPERLINK("http://x")', external_ref="+1", kind="@x")], "USD"
            )
        )
    )
    assert rows[1][4] == '\'=HYPERLINK("http://x")'
    assert rows[1][5] == "'+1"
    assert rows[1][3] == "'@x"


def test_zero_exponent_currencies_have_no_decimals() -> None:
    rows = parse(statement_csv.header() + "".join(statement_csv.rows([line()], "JPY")))
    assert rows[1][7] == "125000"
