"""Period reports as files: CSV a spreadsheet reads and a PDF a person can file.

Both are drawn from the same rows (``statement_rows``, ``sheet_rows``), so the two never
disagree. The CSV keeps integer minor units (as the journal export does: a tool computes
with them); the PDF shows major units with the currency's exponent (1,234.56 USD, 1,235
JPY) for a reader. The PDF is written by fpdf2 with its core Helvetica font (Latin-1: any
other character is shown as ``?``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from services.ledger.domain.reports import (
    BalanceSheet,
    IncomeStatement,
    Period,
    Position,
    ReportLine,
)
from shared.money import exponent

STATEMENT_COLUMNS = ("section", "code", "number", "name", "currency", "amount",
                     "previous_amount", "change")  # fmt: skip
SHEET_COLUMNS = ("section", "code", "number", "name", "currency", "opening", "closing",
                 "previous_opening", "previous_closing")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    code: str
    number: str
    name: str
    figures: tuple[int, ...]
    total: bool = False


def statement_rows(s: IncomeStatement) -> list[Row]:
    """Income lines, their total, expense lines, their total, net income; each with the
    period's amount, the previous period's and the change."""

    def row(section: str, ln: ReportLine, total: bool = False) -> Row:
        return Row(section, ln.code, ln.number, ln.name, (ln.amount, ln.previous, ln.change),
                   total)  # fmt: skip

    return [
        *(row("income", ln) for ln in s.income),
        row("income", s.total_income, True),
        *(row("expenses", ln) for ln in s.expenses),
        row("expenses", s.total_expenses, True),
        row("net_income", s.net_income, True),
    ]


def sheet_rows(b: BalanceSheet) -> list[Row]:
    """Assets, liabilities, equity and net income at the period's start and end (and the
    previous period's), closing on liabilities + equity + net income, which equals total
    assets in balanced books."""

    def row(section: str, p: Position, total: bool = False) -> Row:
        figures = (p.opening, p.closing, p.previous_opening, p.previous_closing)
        return Row(section, p.code, p.number, p.name, figures, total)

    lia, eq = b.total_liabilities, b.equity
    net = Row("equity", "net_income", "", "Net income (the period)",
              (0, b.net_income, 0, b.previous_net_income))  # fmt: skip
    both = Row(
        "total", "total_liabilities_and_equity", "", "Total liabilities, equity and net income",
        (lia.opening + eq.opening, lia.closing + eq.closing + b.net_income,
         lia.previous_opening + eq.previous_opening,
         lia.previous_closing + eq.previous_closing + b.previous_net_income),
        True,
    )  # fmt: skip
    return [
        *(row("assets", p) for p in b.assets),
        row("assets", b.total_assets, True),
        *(row("liabilities", p) for p in b.liabilities),
        row("liabilities", lia, True),
        row("equity", eq),
        net,
        both,
    ]


def as_csv(rows: Sequence[Row], columns: Sequence[str], currency: str) -> str:
    """UTF-8 with a byte-order mark, CRLF, a header row; amounts in integer minor units."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.section, r.code, r.number, r.name, currency, *r.figures])
    return buffer.getvalue()


def statement_csv(s: IncomeStatement) -> str:
    return as_csv(statement_rows(s), STATEMENT_COLUMNS, s.currency)


def sheet_csv(b: BalanceSheet) -> str:
    return as_csv(sheet_rows(b), SHEET_COLUMNS, b.currency)


def major(amount: int, currency: str) -> str:
    """``123456`` USD as ``1,234.56``: the figure a reader expects, exact (no float)."""
    exp = exponent(currency)
    return f"{Decimal(amount).scaleb(-exp):,.{exp}f}"


def _day(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _pdf(title: str, subtitle: list[str], headers: Sequence[str], rows: Sequence[Row],
         currency: str) -> bytes:  # fmt: skip
    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    pdf.set_title(_latin1(title))
    pdf.set_creator("Tradeflow ledger")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, _latin1(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    for line in subtitle:
        pdf.cell(0, 5, _latin1(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    name_w, num_w = 95.0, 16.0
    fig_w = (pdf.epw - name_w - num_w) / len(headers)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(num_w, 6, "No.", border="B")
    pdf.cell(name_w, 6, "Account", border="B")
    for h in headers:
        pdf.cell(fig_w, 6, _latin1(h), border="B", align="R")
    pdf.ln()
    section = None
    for r in rows:
        if r.section != section and not r.total:
            section = r.section
            pdf.set_font("Helvetica", "B", 9)
            pdf.cell(0, 6, section.replace("_", " ").capitalize(),
                     new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        pdf.set_font("Helvetica", "B" if r.total else "", 9)
        border: Literal[0, 1] | str = "T" if r.total else 0
        pdf.cell(num_w, 5.5, r.number, border=border)
        pdf.cell(name_w, 5.5, _latin1(r.name), border=border)
        for figure in r.figures:
            pdf.cell(fig_w, 5.5, major(figure, currency), border=border, align="R")
        pdf.ln()
    pdf.ln(4)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, f"Amounts in {currency}. Periods are [from, to): from included, to "
                         "excluded, by accounting date (posted_at).")  # fmt: skip
    return bytes(pdf.output())


def _heading(tenant_id: str, currency: str, period: Period, previous: Period,
             final: bool, closed_through: datetime | None) -> list[str]:  # fmt: skip
    status = (
        "final (the books are closed through the period's end)"
        if final
        else ("provisional (the period is not closed: figures may still change)")
    )
    closed = _day(closed_through) if closed_through else "never"
    return [
        f"Tenant {tenant_id}   Currency {currency}",
        f"Period {_day(period.start)} to {_day(period.end)}   "
        f"Previous period {_day(previous.start)} to {_day(previous.end)}",
        f"Status: {status}; books closed through: {closed}",
    ]


def statement_pdf(s: IncomeStatement, tenant_id: str, final: bool,
                  closed_through: datetime | None) -> bytes:  # fmt: skip
    heading = _heading(tenant_id, s.currency, s.period, s.previous_period, final,
                       closed_through)  # fmt: skip
    return _pdf("Income statement", heading, ("This period", "Previous period", "Change"),
                statement_rows(s), s.currency)  # fmt: skip


def sheet_pdf(b: BalanceSheet, tenant_id: str, final: bool,
              closed_through: datetime | None) -> bytes:  # fmt: skip
    heading = _heading(tenant_id, b.currency, b.period, b.previous_period, final,
                       closed_through)  # fmt: skip
    return _pdf("Balance sheet", heading,
                ("Opening", "Closing", "Previous opening", "Previous closing"),
                sheet_rows(b), b.currency)  # fmt: skip
