"""Finance: the period reports. The income statement and the balance sheet of whole days
in one currency, beside the previous period of equal length, as the ledger computes them;
and their CSV and PDF, fetched from the ledger with the person's key and passed through."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.api import ApiFailure
from services.console.domain.reports import (
    FORMATS,
    KINDS,
    DayPeriod,
    PeriodInvalid,
    currency_of,
    period_of,
)
from services.console.entrypoints.http.deps import Container, SignedIn, render

router = APIRouter(prefix="/finance/reports")


def _query(period: DayPeriod, currency: str) -> str:
    return f"from={period.first_day}&to={period.last_day}&currency={currency}"


@router.get("", include_in_schema=False)
async def reports(
    request: Request,
    session: SignedIn,
    c: Container,
    kind: str = "income-statement",
    currency: str = "",
) -> Response:
    kind = kind if kind in KINDS else "income-statement"
    q = request.query_params  # ``from`` is a Python keyword: read from the query itself
    form = {"kind": kind, "from": q.get("from", ""), "to": q.get("to", ""), "currency": currency}
    try:
        period = period_of(form["from"] or None, form["to"] or None, c.clock.now().date())
        code = currency_of(currency or None)
    except PeriodInvalid as exc:
        return render(request, "finance/reports.html", 422, kinds=KINDS, form=form,
                      error=str(exc), error_code="invalid_period")  # fmt: skip
    form.update({"from": str(period.first_day), "to": str(period.last_day), "currency": code})
    try:
        report = await c.ledger(str(session.api_key)).report(kind, period.start, period.end, code)
    except ApiFailure as exc:
        if exc.status != 422:
            raise
        return render(request, "finance/reports.html", 422, kinds=KINDS, form=form,
                      error=exc.message, error_code=exc.code)  # fmt: skip
    return render(request, "finance/reports.html", kinds=KINDS, form=form, kind=kind,
                  report=report, query=_query(period, code), formats=FORMATS)  # fmt: skip


@router.get("/{kind}.{fmt}", include_in_schema=False)
async def download(
    request: Request, kind: str, fmt: str, session: SignedIn, c: Container, currency: str = ""
) -> Response:
    """The ledger's own CSV or PDF of the report, with its file name."""
    if kind not in KINDS or fmt not in FORMATS:
        raise ApiFailure("console", 404, "not_found", "no such report")
    q = request.query_params
    try:
        period = period_of(q.get("from") or None, q.get("to") or None, c.clock.now().date())
        code = currency_of(currency or None)
    except PeriodInvalid as exc:
        raise ApiFailure("console", 422, "invalid_period", str(exc)) from None
    body, media, disposition = await c.ledger(str(session.api_key)).report_file(
        kind, period.start, period.end, code, fmt
    )
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})
