"""Milestones: evidence, buyer acceptance (which releases), explicit release, disputes."""

from __future__ import annotations

from fastapi import APIRouter

from services.escrow.entrypoints.http.deps import (
    Container,
    Finance,
    Platform,
    PlatformOrFinance,
    PlatformOrSupplier,
    answer_order,
    caller,
)
from services.escrow.entrypoints.http.errors import answered
from services.escrow.entrypoints.http.schemas import (
    DisputeCreate,
    DisputeResolution,
    EvidenceSubmission,
    OrderPublic,
    ReleaseRequest,
    evidence_details,
    evidence_kind,
)
from services.escrow.service_layer import commands
from shared.http.errors import ApiError
from shared.http.openapi import link

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["milestones"])
# Evidence only the buyer's side (platform scope) may give: a supplier key cannot accept for the buyer.
BUYER_EVIDENCE = frozenset({"buyer_acceptance"})


@router.post("/milestones/{milestone_id}/evidence", status_code=201)
async def evidence(
    order_id: str,
    milestone_id: str,
    body: EvidenceSubmission,
    who: PlatformOrSupplier,
    c: Container,
) -> OrderPublic:
    kind, details = evidence_kind(body.evidence), evidence_details(body.evidence)
    if kind in BUYER_EVIDENCE and "platform" not in who.scopes:
        raise ApiError(
            403,
            "insufficient_scope",
            f"{kind} evidence is the buyer's: it needs the platform scope",
        )
    with answered():
        escrow = await commands.submit_evidence(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, milestone_id,
            kind, details, answer_order,
        )  # fmt: skip
    return OrderPublic.of(escrow)


@router.post("/milestones/{milestone_id}/accept")
async def accept(order_id: str, milestone_id: str, who: Platform, c: Container) -> OrderPublic:
    with answered():
        escrow = await commands.accept_milestone(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, milestone_id, answer_order
        )
    return OrderPublic.of(escrow)


@router.post("/milestones/{milestone_id}/release")
async def release(
    order_id: str,
    milestone_id: str,
    who: PlatformOrFinance,
    c: Container,
    body: ReleaseRequest | None = None,
) -> OrderPublic:
    """Release an accepted milestone whose earlier release attempt did not go through, or
    (FX "milestone" policy) whose release waits for its payout quote (``quote_id``)."""
    with answered():
        escrow = await commands.release_milestone(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, milestone_id,
            answer_order, quote_id=body.quote_id if body is not None else None,
        )  # fmt: skip
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
    order_id: str, milestone_id: str, body: DisputeCreate, who: Platform, c: Container
) -> OrderPublic:
    with answered():
        escrow = await commands.open_dispute(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, milestone_id,
            body.reason, body.evidence, answer_order,
        )  # fmt: skip
    return OrderPublic.of(escrow)


@router.post("/disputes/{dispute_id}/resolve")
async def resolve(
    order_id: str, dispute_id: str, body: DisputeResolution, who: Finance, c: Container
) -> OrderPublic:
    with answered():
        escrow = await commands.resolve_dispute(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, dispute_id,
            body.outcome, body.release_amount, answer_order,
        )  # fmt: skip
    return OrderPublic.of(escrow)
