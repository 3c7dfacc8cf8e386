"""Working the breaks over HTTP: comments, assignment to a finance user, resolutions with a
linked adjustment (maker-checker), bulk resolution, matching rules and the dry run."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query, Request, status

from services.ledger.domain.breaks import MatchRules
from services.ledger.domain.recon import RunWindow
from services.ledger.entrypoints.http.break_schemas import (
    AssigneeSet,
    AssignmentPublic,
    BulkResolve,
    CommentCreate,
    CommentPublic,
    DryRunPublic,
    ResolutionCreate,
    ResolvedPublic,
    RulesPublic,
    RulesSet,
    WorkflowPublic,
)
from services.ledger.entrypoints.http.deps import Container, Finance, RowId, caller
from services.ledger.entrypoints.http.errors import answered
from services.ledger.entrypoints.http.recon import REPORT_BODY, report_lines, utc
from services.ledger.entrypoints.http.schemas import BreakPublic
from services.ledger.service_layer import breaks, commands
from shared.events.types import CurrencyCode
from shared.http.idempotency import answer
from shared.http.openapi import Responses

router = APIRouter(prefix="/v1/ledger/reconciliation", tags=["ledger"])
MAKER_CHECKER: Responses = {
    403: {"description": "same_user_approval: the maker of an adjustment cannot approve it"},
    409: {"description": "no_pending_resolution, break_resolved, period_closed"},
}
RESOLVE: Responses = {
    409: {"description": "break_resolved, resolution_pending, period_closed"},
    422: {"description": "invalid_adjustment (unbalanced, unknown account), validation_error"},
}
BULK: Responses = {
    409: {
        "description": "bulk_resolve_refused: none was resolved; details list each refusing "
        "break: [{break_id, code: break_not_found | break_resolved | resolution_pending | "
        "duplicate_break, message}]"
    }
}


@router.get("/breaks/{break_id}/workflow")
async def workflow(break_id: RowId, who: Finance, c: Container) -> WorkflowPublic:
    """The break with its assignee, its comments (oldest first) and its resolution."""
    with answered():
        w = await breaks.workflow(c.unit_of_work(), caller(who), break_id)
    return WorkflowPublic.of(w, c.clock.now())


@router.post("/breaks/{break_id}/comments", status_code=status.HTTP_201_CREATED)
async def comment(
    break_id: RowId, body: CommentCreate, who: Finance, c: Container
) -> CommentPublic:
    """A note on the break, with the caller as author and now as its time."""
    with answered():
        found = await breaks.comment(
            c.unit_of_work(), caller(who), break_id, body.body, c.clock.now(),
            lambda x: answer(CommentPublic.of(x)),
        )  # fmt: skip
    return CommentPublic.of(found)


@router.put(
    "/breaks/{break_id}/assignee",
    responses={422: {"description": "not_a_finance_user: no valid finance key acts as it"}},
)
async def assign(
    break_id: RowId, body: AssigneeSet, who: Finance, c: Container
) -> AssignmentPublic:
    """Assign the break to a finance user of the tenant (``apikey:<key name>``)."""
    with answered():
        found = await breaks.assign_to(
            c.unit_of_work(), caller(who), c.finance_users(), break_id, body.assignee,
            c.clock.now(), lambda x: answer(AssignmentPublic.of(x)),
        )  # fmt: skip
    return AssignmentPublic.of(found)


@router.post("/breaks/{break_id}/resolutions", status_code=status.HTTP_201_CREATED,
             responses=RESOLVE)  # fmt: skip
async def resolve(
    break_id: RowId, body: ResolutionCreate, who: Finance, c: Container
) -> ResolvedPublic:
    """Resolve with a reason and, where money must move, an adjusting transaction linked to
    the break (posted now). Above the tenant's ``approval_threshold`` the adjustment waits
    (``status: pending_approval``) for another finance user's approval."""
    now = c.clock.now()
    adjustment = body.adjustment.request() if body.adjustment else None
    with answered():
        found = await breaks.resolve(
            c.unit_of_work(), caller(who), break_id, body.reason, adjustment, now,
            lambda x: answer(ResolvedPublic.of(x, now)),
        )  # fmt: skip
    return ResolvedPublic.of(found, now)


@router.post("/breaks/{break_id}/resolutions/approve", responses=MAKER_CHECKER)
async def approve(break_id: RowId, who: Finance, c: Container) -> ResolvedPublic:
    """A second finance user approves the pending adjustment: it is posted, linked, and the
    break resolved. Its maker cannot approve it (403 ``same_user_approval``)."""
    now = c.clock.now()
    with answered():
        found = await breaks.approve(
            c.unit_of_work(), caller(who), break_id, now,
            lambda x: answer(ResolvedPublic.of(x, now)),
        )  # fmt: skip
    return ResolvedPublic.of(found, now)


@router.post("/breaks/bulk-resolve", responses=BULK)
async def bulk_resolve(body: BulkResolve, who: Finance, c: Container) -> list[BreakPublic]:
    """Resolve all the listed breaks with one reason (no money moves), or none of them."""
    now = c.clock.now()
    with answered():
        found = await breaks.bulk_resolve(
            c.unit_of_work(), caller(who), body.break_ids, body.reason, now,
            lambda xs: answer([BreakPublic.of(b, now) for b in xs]),
        )  # fmt: skip
    return [BreakPublic.of(b, now) for b in found]


@router.get("/rules")
async def rules(who: Finance, c: Container) -> list[RulesPublic]:
    """The tenant's matching rules per currency (a currency without: exact amounts, any
    dates, every adjustment approved by a second finance user), each with the raise of its
    approval threshold that waits for a second finance user, if any."""
    found = await breaks.matching_rules(c.unit_of_work(), caller(who))
    pending = await breaks.pending_thresholds(c.unit_of_work(), caller(who))
    return [RulesPublic.of(r, pending.get(r.currency)) for r in found]


@router.put("/rules/{currency}")
async def set_rules(
    currency: CurrencyCode, body: RulesSet, who: Finance, c: Container
) -> RulesPublic:
    """Set the matching rules and approval threshold of one currency. A higher approval
    threshold does not apply yet: it waits (``pending_threshold``) for a finance user other
    than the caller to approve it, so that no one user can raise it and then resolve alone;
    a lower or equal one applies at once."""
    wanted = MatchRules(currency, body.amount_tolerance, body.date_window_days,
                        body.approval_threshold)  # fmt: skip
    with answered():
        found = await breaks.set_matching_rules(
            c.unit_of_work(), caller(who), wanted, c.clock.now(),
            lambda r: answer(RulesPublic.of(r.rules, r.pending)),
        )  # fmt: skip
    return RulesPublic.of(found.rules, found.pending)


@router.post(
    "/rules/{currency}/approve",
    responses={
        403: {"description": "same_user_approval: the maker of the raise cannot approve it"},
        409: {"description": "no_pending_threshold: no raise of this threshold waits"},
    },
)
async def approve_threshold(currency: CurrencyCode, who: Finance, c: Container) -> RulesPublic:
    """A second finance user approves the raise of the currency's approval threshold."""
    with answered():
        found = await breaks.approve_threshold(
            c.unit_of_work(), caller(who), currency, c.clock.now(),
            lambda r: answer(RulesPublic.of(r.rules)),
        )  # fmt: skip
    return RulesPublic.of(found.rules)


@router.post(
    "/dry-runs",
    openapi_extra=REPORT_BODY,
    responses={502: {"description": "payment_provider_error: Stripe could not be read"}},
)
async def dry_run(
    request: Request,
    who: Finance,
    c: Container,
    source: Literal["stripe", "csv"] = "stripe",
    start: datetime | None = Query(None, alias="from", description="created at or after"),
    end: datetime | None = Query(None, alias="to", description="created before"),
) -> DryRunPublic:
    """What a run (same ``source``, window and body as ``POST /runs``) would match and
    which breaks it would open, reopen, change and clear, under the tenant's rules. Writes
    nothing."""
    now = c.clock.now()
    with answered():
        window = RunWindow(utc(start), utc(end))
        if source == "csv":
            lines = report_lines(await request.body())
        else:
            lines = await commands.stripe_lines(
                c.unit_of_work(), caller(who), c.stripe_balance(), window
            )
        found = await breaks.dry_run(
            c.unit_of_work(), caller(who), lines=lines, source=source, now=now, window=window
        )
    return DryRunPublic.of(found, now)
