"""Reconciliation over HTTP: run one (Stripe API or report CSV), list and work the breaks."""

from __future__ import annotations

from typing import Any, Literal

import stripe
from fastapi import APIRouter, Query, Request, status

from services.ledger.adapters import recon
from services.ledger.adapters.stripe_source import ReportFormatError, parse_report_csv
from services.ledger.domain.recon import age_days
from services.ledger.entrypoints.api.deps import ClockDep, Finance, ReadConn, RowId, WriteConn
from services.ledger.entrypoints.api.schemas import Assign, BreakPublic, Resolve, RunPublic
from services.ledger.reconciliation import pull_from_stripe, reconcile
from shared.http.errors import ApiError, not_found
from shared.http.openapi import link

router = APIRouter(prefix="/v1/ledger/reconciliation", tags=["ledger"])
FIRST = {"break_id": "$response.body#/0/id"}
BREAK_LINKS = {
    "links": {
        "Resolve": link("POST /v1/ledger/reconciliation/breaks/{break_id}/resolve", **FIRST),
        "Assign": link("POST /v1/ledger/reconciliation/breaks/{break_id}/assign", **FIRST),
    }
}
# A report CSV, when source=csv (read by the route itself, not parsed by FastAPI).
REPORT_BODY = {
    "requestBody": {
        "required": False,
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "source=csv: a Stripe balance report (itemised or balance change)",
    }
}


@router.post(
    "/runs",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=REPORT_BODY,
    responses={502: {"description": "payment_provider_error: Stripe could not be read"}},
)
async def run(
    request: Request, who: Finance, clock: ClockDep, source: Literal["stripe", "csv"] = "stripe"
) -> RunPublic:
    """Reconcile Stripe clearing against Stripe: ``source=stripe`` pulls balance transactions
    through the API; ``source=csv`` reads a Stripe report CSV sent as the request body."""
    settings = request.app.state.container.runtime.settings
    if source == "csv":
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiError(422, "invalid_report", f"a report CSV is UTF-8 text: {exc}") from exc
        lines = list(parse_report_csv_checked(text.splitlines()))
    else:
        key = settings.stripe_api_key.get_secret_value()
        try:
            lines = list(await pull_from_stripe(key, settings.stripe_api_base))
        except stripe.StripeError as exc:
            raise ApiError(
                502, "payment_provider_error", f"Stripe could not be read: {type(exc).__name__}"
            ) from exc
    result = await reconcile(
        request.app.state.engine, who.tenant_id, source=source, lines=lines, actor=who.actor,
        now=clock.now(),
    )  # fmt: skip
    return RunPublic(run_id=result.run_id, stripe_rows=result.stripe_rows, **result.counts)


def parse_report_csv_checked(lines: list[str]) -> list[Any]:
    try:
        return list(parse_report_csv(lines))
    except ReportFormatError as exc:
        raise ApiError(422, "invalid_report", str(exc)) from exc


def _public(row: dict[str, Any], clock: ClockDep) -> BreakPublic:
    return BreakPublic(**row, age_days=age_days(row["first_seen_at"], clock.now()))


@router.get("/breaks", responses={200: BREAK_LINKS})
async def list_breaks(
    who: Finance,
    conn: ReadConn,
    clock: ClockDep,
    status: Literal["open", "resolved", "cleared"] | None = "open",
    kind: str | None = None,
    limit: int = Query(500, ge=1, le=5000),
) -> list[BreakPublic]:
    """Breaks, oldest first, with owner and age in days."""
    return [_public(b, clock) for b in await recon.breaks(conn, who.tenant_id, status, kind, limit)]


@router.post("/breaks/{break_id}/resolve")
async def resolve(
    break_id: RowId, body: Resolve, who: Finance, conn: WriteConn, clock: ClockDep
) -> BreakPublic:
    row = await recon.update_break(
        conn, who.tenant_id, break_id, status="resolved", resolution=body.resolution,
        resolved_by=who.actor, resolved_at=clock.now(),
    )  # fmt: skip
    if row is None:
        raise not_found("break", break_id)
    return _public(row, clock)


@router.post("/breaks/{break_id}/assign")
async def assign(
    break_id: RowId, body: Assign, who: Finance, conn: WriteConn, clock: ClockDep
) -> BreakPublic:
    row = await recon.update_break(conn, who.tenant_id, break_id, owner=body.owner)
    if row is None:
        raise not_found("break", break_id)
    return _public(row, clock)
