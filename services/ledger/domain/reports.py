"""Period reports: the income statement and the balance sheet of one currency for a period
``[start, end)``, each beside the previous period of equal length ``[start - (end - start), start)``.

Built from per-account sums of raw postings (debit positive), dated by ``posted_at``: the
accounting date, which a period close freezes (``periods.py``: a late event is re-dated
into the open period, so a closed period's report never changes once it was final).

The chart has no equity account: every cent of equity is earnings kept. So per currency,
for any balanced journal (raw balances summing to zero),

    assets = liabilities + equity + net income

at the period's end, where *equity* is the earnings retained before the period opened
(income less expenses dated before ``start``) and *net income* is the period's own; at the
period's start, ``assets = liabilities + equity``. ``identity_difference`` states it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.ledger.domain.chart import CHART, AccountType

RETAINED_EARNINGS = "retained_earnings"


class InvalidPeriod(ValueError):
    """A period that is empty, reversed, or whose previous period leaves the calendar."""


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Period:
        if start >= end:
            raise InvalidPeriod("a period runs from `from` to a later `to`")
        return cls(start, end)

    def previous(self) -> Period:
        """The period of equal length that ends where this one starts."""
        try:
            return Period(self.start - (self.end - self.start), self.start)
        except OverflowError:
            raise InvalidPeriod("the previous period would start before year 1") from None


@dataclass(frozen=True, slots=True)
class AccountSums:
    """One account code's raw postings in one currency (sub-ledgers summed), split in time:
    before the previous period, during it, and during the current period."""

    code: str
    before: int = 0
    previous: int = 0
    current: int = 0


@dataclass(frozen=True, slots=True)
class ReportLine:
    code: str
    number: str
    name: str
    amount: int  # natural: positive on the account's normal side
    previous: int  # the same figure for the previous period

    @property
    def change(self) -> int:
        return self.amount - self.previous


@dataclass(frozen=True, slots=True)
class IncomeStatement:
    currency: str
    period: Period
    previous_period: Period
    income: tuple[ReportLine, ...]
    expenses: tuple[ReportLine, ...]
    total_income: ReportLine
    total_expenses: ReportLine
    net_income: ReportLine


@dataclass(frozen=True, slots=True)
class Position:
    """A balance sheet line: natural balance at a period's start and at its end."""

    code: str
    number: str
    name: str
    opening: int
    closing: int
    previous_opening: int
    previous_closing: int


@dataclass(frozen=True, slots=True)
class BalanceSheet:
    currency: str
    period: Period
    previous_period: Period
    assets: tuple[Position, ...]
    liabilities: tuple[Position, ...]
    equity: Position  # earnings retained before the period (opening = closing)
    total_assets: Position
    total_liabilities: Position
    net_income: int
    previous_net_income: int


def _of_type(sums: Iterable[AccountSums], kind: AccountType) -> list[AccountSums]:
    by_code = {s.code: s for s in sums}
    return [by_code[c] for c, spec in CHART.items() if spec.type == kind and c in by_code]


def _natural(kind: AccountType, raw: int) -> int:
    return raw if kind.debit_normal else -raw


def _line(s: AccountSums, kind: AccountType) -> ReportLine:
    spec = CHART[s.code]
    return ReportLine(
        s.code, spec.number, spec.name, _natural(kind, s.current), _natural(kind, s.previous)
    )


def _total(code: str, name: str, lines: Sequence[ReportLine]) -> ReportLine:
    return ReportLine(code, "", name, sum(x.amount for x in lines), sum(x.previous for x in lines))


def income_statement(currency: str, period: Period, sums: Iterable[AccountSums]) -> IncomeStatement:
    """Income and expenses of the period (and of the previous one), and net income."""
    sums = list(sums)
    income = [_line(s, AccountType.INCOME) for s in _of_type(sums, AccountType.INCOME)]
    expenses = [_line(s, AccountType.EXPENSE) for s in _of_type(sums, AccountType.EXPENSE)]
    total_income = _total("total_income", "Total income", income)
    total_expenses = _total("total_expenses", "Total expenses", expenses)
    net = ReportLine(
        "net_income", "", "Net income", total_income.amount - total_expenses.amount,
        total_income.previous - total_expenses.previous,
    )  # fmt: skip
    return IncomeStatement(
        currency, period, period.previous(), tuple(income), tuple(expenses), total_income,
        total_expenses, net,
    )  # fmt: skip


def _position(s: AccountSums, kind: AccountType) -> Position:
    spec = CHART[s.code]

    def nat(raw: int) -> int:
        return _natural(kind, raw)

    return Position(
        s.code, spec.number, spec.name,
        opening=nat(s.before + s.previous), closing=nat(s.before + s.previous + s.current),
        previous_opening=nat(s.before), previous_closing=nat(s.before + s.previous),
    )  # fmt: skip


def _sum(code: str, name: str, rows: Sequence[Position]) -> Position:
    return Position(
        code, "", name, sum(r.opening for r in rows), sum(r.closing for r in rows),
        sum(r.previous_opening for r in rows), sum(r.previous_closing for r in rows),
    )  # fmt: skip


def balance_sheet(currency: str, period: Period, sums: Iterable[AccountSums]) -> BalanceSheet:
    """Assets and liabilities at the period's start and end (and the previous period's),
    the earnings retained before it, and its net income."""
    sums = list(sums)
    assets = [_position(s, AccountType.ASSET) for s in _of_type(sums, AccountType.ASSET)]
    liabilities = [
        _position(s, AccountType.LIABILITY) for s in _of_type(sums, AccountType.LIABILITY)
    ]
    earnings = [s for s in sums if CHART[s.code].type in (AccountType.INCOME, AccountType.EXPENSE)]
    # Income and expenses are credit-, respectively debit-normal: -raw is earnings for both.
    kept_before_previous = -sum(s.before for s in earnings)
    previous_net = -sum(s.previous for s in earnings)
    net = -sum(s.current for s in earnings)
    kept = kept_before_previous + previous_net
    equity = Position(
        RETAINED_EARNINGS, "", "Retained earnings (before the period)", kept, kept,
        kept_before_previous, kept_before_previous,
    )  # fmt: skip
    return BalanceSheet(
        currency, period, period.previous(), tuple(assets), tuple(liabilities), equity,
        _sum("total_assets", "Total assets", assets),
        _sum("total_liabilities", "Total liabilities", liabilities), net, previous_net,
    )  # fmt: skip


def identity_difference(sheet: BalanceSheet) -> int:
    """assets - (liabilities + equity + net income) at the period's end: 0 for any
    balanced journal. A report carrying anything else is built from unbalanced books."""
    a, lia = sheet.total_assets, sheet.total_liabilities
    return a.closing - (lia.closing + sheet.equity.closing + sheet.net_income)


def opening_difference(sheet: BalanceSheet) -> int:
    """assets - (liabilities + equity) at the period's start: 0 for a balanced journal."""
    return sheet.total_assets.opening - (sheet.total_liabilities.opening + sheet.equity.opening)
