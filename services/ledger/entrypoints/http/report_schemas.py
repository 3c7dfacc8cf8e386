"""API schemas of the period reports (income statement, balance sheet). Integer minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.ledger.domain.reports import (
    BalanceSheet,
    IncomeStatement,
    Period,
    Position,
    ReportLine,
    identity_difference,
    opening_difference,
)
from services.ledger.service_layer.queries import Reported

Status = Literal["final", "provisional"]
STATUS = "final: the books are closed through the period's end, its figures are frozen"


class PeriodPublic(BaseModel):
    start: datetime = Field(description="first instant included")
    end: datetime = Field(description="first instant excluded")

    @classmethod
    def of(cls, p: Period) -> PeriodPublic:
        return cls(start=p.start, end=p.end)


class ReportLinePublic(BaseModel):
    code: str
    number: str
    name: str
    amount: int = Field(description="natural: positive on the account's normal side")
    previous_amount: int
    change: int

    @classmethod
    def of(cls, ln: ReportLine) -> ReportLinePublic:
        return cls(code=ln.code, number=ln.number, name=ln.name, amount=ln.amount,
                   previous_amount=ln.previous, change=ln.change)  # fmt: skip


class PositionPublic(BaseModel):
    code: str
    number: str
    name: str
    opening: int = Field(description="natural balance at the period's start")
    closing: int = Field(description="natural balance at the period's end")
    previous_opening: int
    previous_closing: int

    @classmethod
    def of(cls, p: Position) -> PositionPublic:
        return cls(code=p.code, number=p.number, name=p.name, opening=p.opening,
                   closing=p.closing, previous_opening=p.previous_opening,
                   previous_closing=p.previous_closing)  # fmt: skip


_PERIOD: dict[str, Any] = {
    "currency": "USD",
    "period": {"start": "2026-06-01T00:00:00Z", "end": "2026-07-01T00:00:00Z"},
    "previous_period": {"start": "2026-05-02T00:00:00Z", "end": "2026-06-01T00:00:00Z"},
    "status": "final",
    "closed_through": "2026-07-01T00:00:00Z",
}
_FEE = {"code": "platform_fee_revenue", "number": "4000", "name": "Platform fee revenue"}
INCOME_EXAMPLE: dict[str, Any] = {
    **_PERIOD,
    "income": [{**_FEE, "amount": 90_000, "previous_amount": 60_000, "change": 30_000}],
    "expenses": [{"code": "psp_fee_expense", "number": "5000", "name": "PSP fee expense",
                  "amount": 29_000, "previous_amount": 17_400, "change": 11_600}],
    "total_income": {"code": "total_income", "number": "", "name": "Total income",
                     "amount": 90_000, "previous_amount": 60_000, "change": 30_000},
    "total_expenses": {"code": "total_expenses", "number": "", "name": "Total expenses",
                       "amount": 29_000, "previous_amount": 17_400, "change": 11_600},
    "net_income": {"code": "net_income", "number": "", "name": "Net income",
                   "amount": 61_000, "previous_amount": 42_600, "change": 18_400},
}  # fmt: skip


class IncomeStatementPublic(BaseModel):
    """Income and expense accounts of the period, beside the previous period of equal length."""

    model_config = ConfigDict(json_schema_extra={"examples": [INCOME_EXAMPLE]})

    currency: str
    period: PeriodPublic
    previous_period: PeriodPublic
    status: Status = Field(description=STATUS)
    closed_through: datetime | None
    income: list[ReportLinePublic]
    expenses: list[ReportLinePublic]
    total_income: ReportLinePublic
    total_expenses: ReportLinePublic
    net_income: ReportLinePublic

    @classmethod
    def of(cls, r: Reported[IncomeStatement]) -> IncomeStatementPublic:
        s, line = r.report, ReportLinePublic.of
        return cls(
            currency=s.currency, period=PeriodPublic.of(s.period),
            previous_period=PeriodPublic.of(s.previous_period),
            status="final" if r.final else "provisional", closed_through=r.closed_through,
            income=[line(x) for x in s.income], expenses=[line(x) for x in s.expenses],
            total_income=line(s.total_income), total_expenses=line(s.total_expenses),
            net_income=line(s.net_income),
        )  # fmt: skip


def _pos(code: str, number: str, name: str, *figures: int) -> dict[str, Any]:
    keys = ("opening", "closing", "previous_opening", "previous_closing")
    return {"code": code, "number": number, "name": name, **dict(zip(keys, figures, strict=True))}


SHEET_EXAMPLE: dict[str, Any] = {
    **_PERIOD,
    "assets": [_pos("stripe_clearing", "1010", "Stripe clearing", 1_042_600, 2_103_600, 0,
                    1_042_600)],
    "liabilities": [_pos("escrow_held", "2100", "Escrow held", 1_000_000, 2_000_000, 0,
                         1_000_000)],
    "equity": _pos("retained_earnings", "", "Retained earnings (before the period)", 42_600,
                   42_600, 0, 0),
    "total_assets": _pos("total_assets", "", "Total assets", 1_042_600, 2_103_600, 0,
                         1_042_600),
    "total_liabilities": _pos("total_liabilities", "", "Total liabilities", 1_000_000,
                              2_000_000, 0, 1_000_000),
    "net_income": 61_000,
    "previous_net_income": 42_600,
    "opening_difference": 0,
    "closing_difference": 0,
}  # fmt: skip


class BalanceSheetPublic(BaseModel):
    """Assets, liabilities and equity at the period's start and end, and the previous
    period's; ``closing_difference`` = assets - (liabilities + equity + net income), 0."""

    model_config = ConfigDict(json_schema_extra={"examples": [SHEET_EXAMPLE]})

    currency: str
    period: PeriodPublic
    previous_period: PeriodPublic
    status: Status = Field(description=STATUS)
    closed_through: datetime | None
    assets: list[PositionPublic]
    liabilities: list[PositionPublic]
    equity: PositionPublic = Field(description="earnings retained before the period")
    total_assets: PositionPublic
    total_liabilities: PositionPublic
    net_income: int = Field(description="the period's income less expenses")
    previous_net_income: int
    opening_difference: int = Field(description="assets - (liabilities + equity) at start: 0")
    closing_difference: int = Field(
        description="assets - (liabilities + equity + net income) at the end: 0"
    )

    @classmethod
    def of(cls, r: Reported[BalanceSheet]) -> BalanceSheetPublic:
        b, pos = r.report, PositionPublic.of
        return cls(
            currency=b.currency, period=PeriodPublic.of(b.period),
            previous_period=PeriodPublic.of(b.previous_period),
            status="final" if r.final else "provisional", closed_through=r.closed_through,
            assets=[pos(x) for x in b.assets], liabilities=[pos(x) for x in b.liabilities],
            equity=pos(b.equity), total_assets=pos(b.total_assets),
            total_liabilities=pos(b.total_liabilities), net_income=b.net_income,
            previous_net_income=b.previous_net_income, opening_difference=opening_difference(b),
            closing_difference=identity_difference(b),
        )  # fmt: skip
