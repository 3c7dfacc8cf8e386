"""Reconciliation over HTTP: run one (Stripe API or report CSV), list and work the breaks."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, status

from services.ledger.adapters.stripe_source import parse_report_csv
from services.ledger.domain.recon import ReportFormatError, StripeLine
from services.ledger.entrypoints.http.deps import Container, Finance, RowId, caller
from services.ledger.entrypoints.http.errors import answered
from services.ledger.entrypoints.http.schemas import Assign, BreakPublic, Resolve, RunPublic
from services.ledger.service_layer import commands, queries
from shared.http.idempotency import answer
from shared.http.openapi import link
from shared.http.pagination import ListOf, Paging

router = APIRouter(prefix="/v1/ledger/reconciliation", tags=["ledger"])
FIRST = {"break_id": "$response.body#/data/0/id"}
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
    request: Request, who: Finance, c: Container, source: Literal["stripe", "csv"] = "stripe"
) -> RunPublic:
    """Reconcile Stripe clearing against Stripe: ``source=stripe`` pulls balance transactions
    through the API; ``source=csv`` reads a Stripe report CSV sent as the request body."""
    with answered():
        if source == "csv":
            lines = report_lines(await request.body())
        else:
            lines = await c.stripe_balance().pull()
        result = await commands.reconcile(
            c.unit_of_work(), caller(who), source=source, lines=lines, now=c.clock.now(),
            before_commit=lambda r: answer(_run_public(r)),
        )  # fmt: skip
    return _run_public(result)


def report_lines(body: bytes) -> list[StripeLine]:
    """A Stripe report CSV, read whole before the run starts (so a bad one records none)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportFormatError(f"a report CSV is UTF-8 text: {exc}") from exc
    return list(parse_report_csv(text.splitlines()))


def _run_public(result: commands.RunResult) -> RunPublic:
    return RunPublic(run_id=result.run_id, stripe_rows=result.stripe_rows, **result.counts)


@router.get("/breaks", responses={200: BREAK_LINKS})
async def list_breaks(
    request: Request,
    who: Finance,
    c: Container,
    page: Paging,
    status: Literal["open", "resolved", "cleared"] | None = "open",
    kind: str | None = None,
) -> ListOf[BreakPublic]:
    """Breaks, oldest first, with owner and age in days, in pages: ``starting_after`` is the
    last break's ``id`` (another tenant's is `400 invalid_cursor`, as an unknown one)."""
    found = await queries.breaks(c.unit_of_work(), caller(who), status, kind, page)
    now = c.clock.now()
    return ListOf[BreakPublic].of(found, request, lambda b: BreakPublic.of(b, now))


@router.post("/breaks/{break_id}/resolve")
async def resolve(break_id: RowId, body: Resolve, who: Finance, c: Container) -> BreakPublic:
    now = c.clock.now()
    with answered():
        found = await commands.resolve_break(
            c.unit_of_work(), caller(who), break_id, body.resolution, now,
            lambda b: answer(BreakPublic.of(b, now)),
        )  # fmt: skip
    return BreakPublic.of(found, now)


@router.post("/breaks/{break_id}/assign")
async def assign(break_id: RowId, body: Assign, who: Finance, c: Container) -> BreakPublic:
    now = c.clock.now()
    with answered():
        found = await commands.assign_break(
            c.unit_of_work(), caller(who), break_id, body.owner,
            lambda b: answer(BreakPublic.of(b, now)),
        )  # fmt: skip
    return BreakPublic.of(found, now)
