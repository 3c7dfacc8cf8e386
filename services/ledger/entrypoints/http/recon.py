"""Reconciliation over HTTP: run one (Stripe API or report CSV), list and work the breaks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status

from services.ledger.adapters.stripe_source import parse_report_csv
from services.ledger.domain.recon import ReportFormatError, RunWindow, StripeLine
from services.ledger.entrypoints.http.deps import Container, Finance, RowId, caller, in_utc
from services.ledger.entrypoints.http.errors import answered
from services.ledger.entrypoints.http.schemas import (
    Assign,
    BreakPublic,
    ClearingBalancePublic,
    RefusedLinePublic,
    Resolve,
    RunPublic,
    StripeAccountPublic,
    StripeAccountSet,
)
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
    responses={
        502: {
            "description": "payment_provider_error: Stripe could not be read;"
            " escrow_unavailable: escrow could not be asked (escrow=ask)"
        }
    },
)
async def run(
    request: Request,
    who: Finance,
    c: Container,
    source: Literal["stripe", "csv"] = "stripe",
    start: datetime | None = Query(None, alias="from", description="created at or after"),
    end: datetime | None = Query(None, alias="to", description="created before"),
    escrow: Literal["reported", "ask"] = Query(
        "reported",
        description="ask: the three-way check per order with what escrow answers it holds as"
        " of `to` (or now); reported: escrow held against what escrow's events reported",
    ),
) -> RunPublic:
    """Reconcile the tenant's Stripe clearing against its Stripe balance transactions
    created in [from, to): ``source=stripe`` pulls them through the API (the tenant's own
    Stripe account if it has one, else the platform's, by the tenant on each object's
    metadata); ``source=csv`` reads a Stripe report CSV sent as the request body. Fees,
    payouts, adjustments and reserves are booked, once per balance transaction. With
    ``escrow=ask`` the ledger asks escrow (with the caller's key) what it holds per order,
    and each three-way break names which of ledger, escrow and Stripe disagrees."""
    with answered():
        window = RunWindow(utc(start), utc(end))
        if source == "csv":
            lines = report_lines(await request.body())
        else:
            lines = await commands.stripe_lines(
                c.unit_of_work(), caller(who), c.stripe_balance(), window
            )
        now = c.clock.now()
        asked = None
        if escrow == "ask":
            token = request.headers.get("Authorization", "").partition(" ")[2]
            asked = await c.escrow_holdings().held(token, window.end or now)
        result = await commands.reconcile(
            c.unit_of_work(), caller(who), source=source, lines=lines, now=now, window=window,
            escrow=asked, before_commit=lambda r: answer(_run_public(r)),
        )  # fmt: skip
    return _run_public(result)


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else in_utc(value)


def report_lines(body: bytes) -> list[StripeLine]:
    """A Stripe report CSV, read whole before the run starts (so a bad one records none)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportFormatError(f"a report CSV is UTF-8 text: {exc}") from exc
    return list(parse_report_csv(text.splitlines()))


def _run_public(result: commands.RunResult) -> RunPublic:
    return RunPublic(
        run_id=result.run_id, window_from=result.window.start, window_to=result.window.end,
        stripe_rows=result.stripe_rows, booked=result.booked, **result.counts,
        balances=[
            ClearingBalancePublic(
                currency=b.currency, ledger_clearing=b.clearing, stripe_balance=b.stripe,
                difference=b.difference,
            )
            for b in result.balances
        ],
        refused=[RefusedLinePublic(balance_txn_id=i, code=code) for i, code in result.refused],
    )  # fmt: skip


@router.get("/stripe-account")
async def stripe_account(who: Finance, c: Container) -> StripeAccountPublic:
    """The tenant's own Stripe account its runs read (null: the platform account), who
    bound it and when."""
    found = await queries.stripe_account(c.unit_of_work(), caller(who))
    if found is None:
        return StripeAccountPublic(account_id=None)
    return StripeAccountPublic(account_id=found[0], set_by=found[1], set_at=found[2])


@router.put(
    "/stripe-account",
    responses={
        409: {"description": "stripe_account_taken: the account is another tenant's"},
        422: {"description": "stripe_account_unknown: the platform's key reads no such account"},
        502: {"description": "payment_provider_error: Stripe could not be asked"},
    },
)
async def set_stripe_account(
    body: StripeAccountSet, who: Finance, c: Container
) -> StripeAccountPublic:
    """Name the tenant's own (connected) Stripe account: its runs then read that account
    only (``Stripe-Account`` header). The ledger asks Stripe (the platform's key) that the
    account exists and is readable (else 422 ``stripe_account_unknown``); an account is one
    tenant's (another's is 409 ``stripe_account_taken``); who bound it and when is kept."""
    done = StripeAccountPublic(account_id=body.account_id, set_by=who.actor, set_at=c.clock.now())
    with answered():
        await commands.set_stripe_account(
            c.unit_of_work(),
            caller(who),
            body.account_id,
            c.stripe_accounts(),
            lambda: answer(done),
        )
    return done


@router.get("/breaks", responses={200: BREAK_LINKS})
async def list_breaks(
    request: Request,
    who: Finance,
    c: Container,
    page: Paging,
    status: Literal["open", "resolved", "cleared"] | None = "open",
    kind: str | None = None,
    owner: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    min_age_days: Annotated[int | None, Query(ge=0, le=36_500)] = None,
    max_age_days: Annotated[int | None, Query(ge=0, le=36_500)] = None,
) -> ListOf[BreakPublic]:
    """Breaks, oldest first, with owner and age in days, in pages: ``starting_after`` is the
    last break's ``id`` (another tenant's is `400 invalid_cursor`, as an unknown one).

    ``owner`` keeps one owner's breaks; ``min_age_days``/``max_age_days`` (both included)
    keep breaks of that many whole days since first seen (``age_days``); a maximum below the
    minimum is `422 invalid_age_range`. The filters are applied before paging, so every page
    holds only matching breaks and the cursor carries on over them."""
    now = c.clock.now()
    with answered():
        found = await queries.breaks(
            c.unit_of_work(), caller(who), status, kind, page, owner=owner,
            min_age_days=min_age_days, max_age_days=max_age_days, now=now,
        )  # fmt: skip
    return ListOf[BreakPublic].of(found, request, lambda b: BreakPublic.of(b, now))


@router.post(
    "/breaks/{break_id}/resolve",
    responses={409: {"description": "break_resolved: resolved already, it stays as it was"}},
)
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
