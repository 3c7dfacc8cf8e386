"""Period reports over HTTP: the income statement and the balance sheet of one currency for
``[from, to)``, beside the previous period of equal length, as JSON, CSV or PDF."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response

from services.ledger.adapters import report_documents as documents
from services.ledger.domain.reports import Period
from services.ledger.entrypoints.http.deps import Container, Finance, caller, in_utc
from services.ledger.entrypoints.http.errors import answered
from services.ledger.entrypoints.http.report_schemas import (
    INCOME_EXAMPLE,
    SHEET_EXAMPLE,
    BalanceSheetPublic,
    IncomeStatementPublic,
)
from services.ledger.service_layer import queries
from shared.events.types import CurrencyCode
from shared.http.openapi import Responses

router = APIRouter(prefix="/v1/ledger/reports", tags=["ledger"])
Format = Literal["json", "csv", "pdf"]
INVALID: Responses = {
    422: {"description": "invalid_period: `to` is not after `from`; validation_error"}
}


def _files(example: dict[str, Any], csv_example: str) -> Responses:
    return {
        200: {
            "description": "format=json (default), csv (UTF-8 with BOM, minor units) or pdf",
            "content": {
                "application/json": {"example": example},
                "text/csv": {"schema": {"type": "string"}, "example": csv_example},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **INVALID,
    }


INCOME_CSV = (
    "section,code,number,name,currency,amount,previous_amount,change\r\n"
    "income,platform_fee_revenue,4000,Platform fee revenue,USD,90000,60000,30000\r\n"
    "income,total_income,,Total income,USD,90000,60000,30000\r\n"
)
SHEET_CSV = (
    "section,code,number,name,currency,opening,closing,previous_opening,previous_closing\r\n"
    "assets,stripe_clearing,1010,Stripe clearing,USD,1042600,2103600,0,1042600\r\n"
)


def _period(start: datetime, end: datetime) -> Period:
    return Period.of(in_utc(start), in_utc(end))


def _file(body: str | bytes, fmt: str, name: str) -> Response:
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/pdf"
    return Response(
        body, media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )  # fmt: skip


def _name(kind: str, currency: str, period: Period) -> str:
    return f"{kind}-{currency}-{period.start:%Y%m%dT%H%M%S}-{period.end:%Y%m%dT%H%M%S}"


@router.get(
    "/income-statement",
    response_model=IncomeStatementPublic,
    responses=_files(INCOME_EXAMPLE, INCOME_CSV),
)
async def income_statement(
    who: Finance,
    c: Container,
    currency: CurrencyCode,
    start: datetime = Query(alias="from", description="first instant included"),
    end: datetime = Query(alias="to", description="first instant excluded"),
    translated: bool = Query(
        False,
        description="every currency's books in the reporting currency (``currency``) "
        "at the closing rates in force at ``to`` (docs/fx.md)",
    ),
    format: Format = "json",
) -> Any:
    """Income and expense accounts of ``[from, to)`` in ``currency``, with net income, beside
    the previous period of equal length. ``status`` final once the books are closed
    through ``to``."""
    with answered():
        found = await queries.income_statement(
            c.unit_of_work(), caller(who), currency, _period(start, end), translated
        )
    s = found.report
    if format == "csv":
        return _file(
            documents.statement_csv(s), "csv", _name("income-statement", currency, s.period)
        )
    if format == "pdf":
        pdf = documents.statement_pdf(s, who.tenant_id, found.final, found.closed_through)
        return _file(pdf, "pdf", _name("income-statement", currency, s.period))
    return IncomeStatementPublic.of(found)


@router.get(
    "/balance-sheet",
    response_model=BalanceSheetPublic,
    responses=_files(SHEET_EXAMPLE, SHEET_CSV),
)
async def balance_sheet(
    who: Finance,
    c: Container,
    currency: CurrencyCode,
    start: datetime = Query(alias="from", description="first instant included"),
    end: datetime = Query(alias="to", description="first instant excluded"),
    translated: bool = Query(
        False,
        description="every currency's books in the reporting currency (``currency``) "
        "at the closing rates in force at ``to`` (docs/fx.md)",
    ),
    format: Format = "json",
) -> Any:
    """Assets, liabilities and equity at the start and end of ``[from, to)`` in ``currency``
    (and of the previous period of equal length), with the period's net income:
    assets = liabilities + equity + net income."""
    with answered():
        found = await queries.balance_sheet(
            c.unit_of_work(), caller(who), currency, _period(start, end), translated
        )
    b = found.report
    if format == "csv":
        return _file(documents.sheet_csv(b), "csv", _name("balance-sheet", currency, b.period))
    if format == "pdf":
        pdf = documents.sheet_pdf(b, who.tenant_id, found.final, found.closed_through)
        return _file(pdf, "pdf", _name("balance-sheet", currency, b.period))
    return BalanceSheetPublic.of(found)
