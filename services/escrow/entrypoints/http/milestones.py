"""Milestones: evidence, buyer acceptance (which releases), explicit release, disputes."""

from __future__ import annotations

from fastapi import APIRouter

from services.escrow.domain.disputes import open_dispute, resolve_dispute
from services.escrow.domain.errors import EscrowError
from services.escrow.domain.milestones import accept_milestone, submit_evidence
from services.escrow.domain.model import Escrow
from services.escrow.domain.payouts import begin_release
from services.escrow.domain.rules import Decision
from services.escrow.entrypoints.http.deps import (
    Ctx,
    Finance,
    Platform,
    PlatformOrFinance,
    PlatformOrSupplier,
    run,
)
from services.escrow.entrypoints.http.schemas import (
    DisputeCreate,
    DisputeResolution,
    EvidenceSubmission,
    OrderPublic,
    evidence_details,
    evidence_kind,
)
from shared.http.errors import ApiError
from shared.http.openapi import link

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["milestones"])
# Evidence only the buyer's side (platform scope) may give: a supplier key cannot accept for the buyer.
BUYER_EVIDENCE = frozenset({"buyer_acceptance"})


def accept_and_release(e: Escrow, milestone_id: str) -> Decision:
    """Acceptance releases at once; if the release cannot start, the acceptance stands."""
    accepted, events = accept_milestone(e, milestone_id)
    try:
        released, more = begin_release(accepted, milestone_id)
    except EscrowError:
        return accepted, events
    return released, events + more


@router.post("/milestones/{milestone_id}/evidence", status_code=201)
async def evidence(
    order_id: str, milestone_id: str, body: EvidenceSubmission, who: PlatformOrSupplier, ctx: Ctx
) -> OrderPublic:
    kind, details = evidence_kind(body.evidence), evidence_details(body.evidence)
    if kind in BUYER_EVIDENCE and "platform" not in who.scopes:
        raise ApiError(
            403,
            "insufficient_scope",
            f"{kind} evidence is the buyer's: it needs the platform scope",
        )
    escrow = await run(
        ctx,
        who,
        order_id,
        lambda e: submit_evidence(e, milestone_id, kind, details, who.actor, ctx.clock.now()),
    )
    return OrderPublic.of(escrow)


@router.post("/milestones/{milestone_id}/accept")
async def accept(order_id: str, milestone_id: str, who: Platform, ctx: Ctx) -> OrderPublic:
    escrow = await run(ctx, who, order_id, lambda e: accept_and_release(e, milestone_id))
    return OrderPublic.of(escrow)


@router.post("/milestones/{milestone_id}/release")
async def release(
    order_id: str, milestone_id: str, who: PlatformOrFinance, ctx: Ctx
) -> OrderPublic:
    """Release an accepted milestone whose earlier release attempt did not go through."""
    escrow = await run(ctx, who, order_id, lambda e: begin_release(e, milestone_id))
    return OrderPublic.of(escrow)


RESOLVE = link(
    "POST /v1/orders/{order_id}/disputes/{dispute_id}/resolve",
    order_id="$response.body#/order_id",
    dispute_id="$response.body#/disputes/0/dispute_id",
)


@router.post(
    "/milestones/{milestone_id}/disputes",
    status_code=201,
    responses={201: {"links": {"Resolve": RESOLVE}}},
)
async def dispute(
    order_id: str, milestone_id: str, body: DisputeCreate, who: Platform, ctx: Ctx
) -> OrderPublic:
    escrow = await run(
        ctx,
        who,
        order_id,
        lambda e: open_dispute(e, milestone_id, body.reason, body.evidence, ctx.clock.now()),
    )
    return OrderPublic.of(escrow)


@router.post("/disputes/{dispute_id}/resolve")
async def resolve(
    order_id: str, dispute_id: str, body: DisputeResolution, who: Finance, ctx: Ctx
) -> OrderPublic:
    escrow = await run(
        ctx,
        who,
        order_id,
        lambda e: resolve_dispute(e, dispute_id, body.outcome, body.release_amount),
    )
    return OrderPublic.of(escrow)
