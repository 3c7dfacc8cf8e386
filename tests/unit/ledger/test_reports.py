"""Period reports: a worked example, the accounting identity as a property over any balanced
journal, the period-close status, and the CSV and PDF drawn from the same figures."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.adapters import report_documents as documents
from services.ledger.domain.chart import CHART, AccountType
from services.ledger.domain.reports import (
    AccountSums,
    InvalidPeriod,
    Period,
    balance_sheet,
    identity_difference,
    income_statement,
    opening_difference,
)
from services.ledger.domain.staff import StaffLine
from services.ledger.service_layer import commands, queries
from services.ledger.service_layer.commands import Caller
from tests.unit.ledger.fakes import FakeLedgerUnitOfWork
from tests.unit.ledger.test_use_cases import allow_adjustments

JUNE = Period.of(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
FINANCE = Caller(tenant_id="t1", actor="apikey:alice")
NOW = datetime(2026, 7, 2, tzinfo=UTC)


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF's content streams (inflated where compressed)."""
    out = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(raw).decode("latin-1"))
        except zlib.error:
            out.append(raw.decode("latin-1"))
    return "\n".join(out)


# --- periods ---------------------------------------------------------------------------


def test_the_previous_period_has_the_same_length_and_ends_where_the_period_starts() -> None:
    prev = JUNE.previous()
    assert (prev.start, prev.end) == (datetime(2026, 5, 2, tzinfo=UTC), JUNE.start)


@pytest.mark.parametrize(
    ("start", "end"),
    [(JUNE.end, JUNE.start), (JUNE.start, JUNE.start), (datetime.min, datetime(1, 1, 2))],
)
def test_an_empty_reversed_or_uncalendared_period_is_refused(
    start: datetime, end: datetime
) -> None:
    with pytest.raises(InvalidPeriod):
        Period.of(start, end).previous()


# --- a worked example ------------------------------------------------------------------

# Raw sums (debit positive): before May 2, in [May 2, June 1), in June.
WORKED = [
    AccountSums("stripe_clearing", before=0, previous=1_042_600, current=1_061_000),
    AccountSums("escrow_held", before=0, previous=-1_000_000, current=-1_000_000),
    AccountSums("platform_fee_revenue", before=0, previous=-60_000, current=-90_000),
    AccountSums("psp_fee_expense", before=0, previous=17_400, current=29_000),
]


def test_income_statement_worked_example() -> None:
    s = income_statement("USD", JUNE, WORKED)
    assert [(x.code, x.amount, x.previous, x.change) for x in s.income] == [
        ("platform_fee_revenue", 90_000, 60_000, 30_000)
    ]
    assert [(x.code, x.amount, x.previous) for x in s.expenses] == [
        ("psp_fee_expense", 29_000, 17_400)
    ]
    assert (s.net_income.amount, s.net_income.previous, s.net_income.change) == (
        61_000, 42_600, 18_400,
    )  # fmt: skip


def test_balance_sheet_worked_example() -> None:
    b = balance_sheet("USD", JUNE, WORKED)
    clearing, held = b.assets[0], b.liabilities[0]
    assert (clearing.opening, clearing.closing) == (1_042_600, 2_103_600)
    assert (held.opening, held.closing, held.previous_opening) == (1_000_000, 2_000_000, 0)
    assert (b.equity.opening, b.equity.closing, b.equity.previous_closing) == (42_600, 42_600, 0)
    assert (b.net_income, b.previous_net_income) == (61_000, 42_600)
    assert identity_difference(b) == 0 and opening_difference(b) == 0


def test_unbalanced_books_show_in_the_identity() -> None:
    """The identity is no tautology: sums that do not balance leave a difference."""
    b = balance_sheet("USD", JUNE, [*WORKED, AccountSums("bank", current=7)])
    assert identity_difference(b) == 7


# --- the identity, for any balanced journal --------------------------------------------

CODES = sorted(CHART)
DAY0 = datetime(2026, 4, 1, tzinfo=UTC)


@st.composite
def balanced_entries(draw: st.DrawFn) -> list[tuple[datetime, str, str, int]]:
    """Journal entries of random accounts, dates and currencies, each summing to zero per
    currency: (posted_at, code, currency, signed amount)."""
    entries = []
    for _ in range(draw(st.integers(0, 25))):
        at = DAY0 + timedelta(hours=draw(st.integers(0, 24 * 120)))
        currency = draw(st.sampled_from(["USD", "EUR", "JPY"]))
        amounts = draw(st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=5))
        codes = draw(st.lists(st.sampled_from(CODES), min_size=len(amounts) + 1,
                              max_size=len(amounts) + 1))  # fmt: skip
        for code, amount in zip(codes, [*amounts, -sum(amounts)], strict=True):
            entries.append((at, code, currency, amount))
    return entries


def sums_of(entries: list[tuple[datetime, str, str, int]], currency: str,
            period: Period) -> list[AccountSums]:  # fmt: skip
    parts: dict[str, list[int]] = {}
    prev = period.previous()
    for at, code, cur, amount in entries:
        if cur != currency or at >= period.end:
            continue
        part = 0 if at < prev.start else 1 if at < period.start else 2
        parts.setdefault(code, [0, 0, 0])[part] += amount
    return [AccountSums(c, *p) for c, p in parts.items()]


@settings(max_examples=300, deadline=None)
@given(
    entries=balanced_entries(),
    start_day=st.integers(0, 120),
    days=st.integers(1, 60),
    currency=st.sampled_from(["USD", "EUR", "JPY"]),
)
def test_assets_equal_liabilities_equity_and_net_income_for_any_balanced_journal(
    entries: list[tuple[datetime, str, str, int]], start_day: int, days: int, currency: str
) -> None:
    start = DAY0 + timedelta(days=start_day)
    period = Period.of(start, start + timedelta(days=days))
    sums = sums_of(entries, currency, period)
    sheet = balance_sheet(currency, period, sums)
    statement = income_statement(currency, period, sums)
    assert identity_difference(sheet) == 0
    assert opening_difference(sheet) == 0
    # The previous period's closing is this period's opening, and it balances too.
    prev_assets = sheet.total_assets
    assert prev_assets.previous_closing == prev_assets.opening
    assert prev_assets.previous_closing == (
        sheet.total_liabilities.previous_closing + sheet.equity.previous_closing
        + sheet.previous_net_income
    )  # fmt: skip
    # Net income is the same figure on both reports, and the natural sum of the period's
    # income less its expenses, counted here directly from the entries.
    direct = sum(
        -amount if CHART[code].type in (AccountType.INCOME, AccountType.EXPENSE) else 0
        for at, code, cur, amount in entries
        if cur == currency and period.start <= at < period.end
    )
    assert statement.net_income.amount == sheet.net_income == direct
    assert statement.net_income.previous == sheet.previous_net_income


# --- through the use cases: period close makes a report final -------------------------


async def _book(uow: FakeLedgerUnitOfWork, at: datetime, fee: int) -> None:
    lines = [
        StaffLine("stripe_clearing", "USD", debit=fee, external_ref="ch_x"),
        StaffLine("platform_fee_revenue", "USD", credit=fee),
    ]
    await commands.post_adjustment(uow, FINANCE, "fee booked", "", at, lines)


async def test_a_report_is_provisional_until_the_books_are_closed_through_its_end() -> None:
    uow = FakeLedgerUnitOfWork()
    await allow_adjustments(uow)
    await _book(uow, datetime(2026, 5, 20, tzinfo=UTC), 4_000)
    await _book(uow, datetime(2026, 6, 10, tzinfo=UTC), 9_000)
    await _book(uow, JUNE.end, 100)  # the first instant after June: not in it
    found = await queries.income_statement(uow, FINANCE, "USD", JUNE)
    assert not found.final and found.closed_through is None
    assert (found.report.net_income.amount, found.report.net_income.previous) == (9_000, 4_000)
    await commands.close_period(uow, FINANCE, JUNE.end, "June", NOW)
    sheet = await queries.balance_sheet(uow, FINANCE, "USD", JUNE)
    assert sheet.final and sheet.closed_through == JUNE.end
    assert (sheet.report.assets[0].opening, sheet.report.assets[0].closing) == (4_000, 13_000)
    assert sheet.report.equity.closing == 4_000 and identity_difference(sheet.report) == 0
    other = await queries.balance_sheet(uow, Caller("t2", "apikey:bob"), "USD", JUNE)
    assert other.report.assets == () and other.report.net_income == 0  # tenant's own books


# --- files -----------------------------------------------------------------------------


def test_csv_rows_carry_minor_units_and_close_on_the_identity() -> None:
    text = documents.sheet_csv(balance_sheet("USD", JUNE, WORKED))
    assert text.startswith("\ufeffsection,code,number,name,currency,opening,closing,")
    rows = [r.split(",") for r in text.lstrip("\ufeff").split("\r\n") if r]
    by_code = {r[1]: r for r in rows[1:]}
    assert by_code["total_assets"][5:7] == ["1042600", "2103600"]
    assert by_code["net_income"][6] == "61000"
    assert text.rstrip("\r\n").endswith("USD,1042600,2103600,0,1042600")  # L + E + NI
    statement = documents.statement_csv(income_statement("USD", JUNE, WORKED))
    assert "net_income,net_income,,Net income,USD,61000,42600,18400\r\n" in statement


def test_pdf_is_a_pdf_with_the_figures_in_major_units() -> None:
    pdf = documents.sheet_pdf(balance_sheet("USD", JUNE, WORKED), "t1", True, JUNE.end)
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for figure in ("21,036.00", "10,426.00", "20,000.00", "610.00", "Balance sheet", "final"):
        assert figure in text, figure
    jpy = documents.statement_pdf(income_statement("JPY", JUNE, WORKED), "t1", False, None)
    assert "90,000" in pdf_text(jpy) and "provisional" in pdf_text(jpy)


def test_major_units_are_exact() -> None:
    assert documents.major(-123_456_789_012_345, "USD") == "-1,234,567,890,123.45"
    assert documents.major(5, "KWD") == "0.005" and documents.major(1_000, "JPY") == "1,000"
