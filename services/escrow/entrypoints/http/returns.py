"""A failed inspection's way out: the buyer's rejection, the supplier's remedy, the return
of the goods and its refund; and partial refunds agreed outside a dispute."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from services.escrow.bootstrap import EscrowContainer
from services.escrow.entrypoints.http.deps import (
    Container,
    Platform,
    PlatformOrSupplier,
    answer_order,
    caller,
)
from services.escrow.entrypoints.http.dispute_schemas import (
    PartialRefundAnswer,
    PartialRefundCreate,
    RejectionAnswer,
    RejectionCreate,
    ReturnReceipt,
    ReturnShipment,
)
from services.escrow.entrypoints.http.disputes import WRONG_PARTY, acting_party
from services.escrow.entrypoints.http.errors import answered
from services.escrow.entrypoints.http.schemas import OrderPublic
from services.escrow.service_layer import returns
from shared.http.auth import Principal

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["returns"])
MILESTONE = "/milestones/{milestone_id}"


@router.post(f"{MILESTONE}/reject")
async def reject(
    order_id: str, milestone_id: str, body: RejectionCreate, who: Platform, c: Container
) -> OrderPublic:
    """The buyer rejects a milestone whose latest inspection failed."""
    with answered():
        escrow = await returns.reject_milestone(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, milestone_id,
            body.remedy, body.reasons, body.evidence, answer_order,
        )  # fmt: skip
    return OrderPublic.of(escrow)


@router.post(f"{MILESTONE}/rejection/answer", responses=WRONG_PARTY)
async def answer_rejection(
    order_id: str, milestone_id: str, body: RejectionAnswer, who: PlatformOrSupplier, c: Container
) -> OrderPublic:
    """The supplier's remedy: take the goods back, re-inspect them, or replace them."""
    with answered():
        escrow = await returns.answer_rejection(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, milestone_id,
            body.remedy, answer_order, party=acting_party(who, body.party),
        )  # fmt: skip
    return OrderPublic.of(escrow)


@router.post(f"{MILESTONE}/return-shipment")
async def ship_return(
    order_id: str, milestone_id: str, body: ReturnShipment, who: Platform, c: Container
) -> OrderPublic:
    """The buyer sent the goods back: carrier and tracking."""
    document = body.document.ref() if body.document is not None else None
    with answered():
        escrow = await returns.ship_return(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, milestone_id,
            body.carrier, body.tracking, document, answer_order,
        )  # fmt: skip
    return OrderPublic.of(escrow)


@router.post(f"{MILESTONE}/return-receipt", responses=WRONG_PARTY)
async def confirm_return(
    order_id: str, milestone_id: str, body: ReturnReceipt, who: PlatformOrSupplier, c: Container
) -> OrderPublic:
    """The supplier has the goods back: the buyer is refunded through Stripe."""
    with answered():
        escrow = await returns.confirm_return(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, milestone_id,
            answer_order, party=acting_party(who, body.party),
        )  # fmt: skip
    return OrderPublic.of(escrow)


@router.post("/partial-refunds", status_code=201)
async def propose_partial_refund(
    order_id: str, body: PartialRefundCreate, who: PlatformOrSupplier, c: Container
) -> OrderPublic:
    """One party proposes a partial refund of a milestone; the other consents or declines."""
    party = acting_party(who, body.party)
    with answered():
        escrow = await returns.propose_partial_refund(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, party,
            body.milestone_id, body.amount, body.reason, answer_order,
        )  # fmt: skip
    return OrderPublic.of(escrow)


@router.post("/partial-refunds/{proposal_id}/consent", responses=WRONG_PARTY)
async def consent_partial_refund(
    order_id: str,
    proposal_id: str,
    body: PartialRefundAnswer,
    who: PlatformOrSupplier,
    c: Container,
) -> OrderPublic:
    """The other party consents: the refund is made through Stripe, exact to the unit."""
    party = acting_party(who, body.party)
    with answered():
        escrow = await returns.consent_partial_refund(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, party, proposal_id,
            answer_order,
        )  # fmt: skip
    return OrderPublic.of(escrow)


@router.post("/partial-refunds/{proposal_id}/decline", responses=WRONG_PARTY)
async def decline_partial_refund(
    order_id: str,
    proposal_id: str,
    body: PartialRefundAnswer,
    who: PlatformOrSupplier,
    c: Container,
) -> OrderPublic:
    """The other party declines the proposal."""
    return await _close(order_id, proposal_id, body, who, c, "declined")


@router.post("/partial-refunds/{proposal_id}/withdraw", responses=WRONG_PARTY)
async def withdraw_partial_refund(
    order_id: str,
    proposal_id: str,
    body: PartialRefundAnswer,
    who: PlatformOrSupplier,
    c: Container,
) -> OrderPublic:
    """The proposer withdraws the proposal."""
    return await _close(order_id, proposal_id, body, who, c, "withdrawn")


async def _close(
    order_id: str,
    proposal_id: str,
    body: PartialRefundAnswer,
    who: Principal,
    c: EscrowContainer,
    outcome: Literal["declined", "withdrawn"],
) -> OrderPublic:
    party = acting_party(who, body.party)
    with answered():
        escrow = await returns.close_partial_refund(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, party, proposal_id,
            outcome, answer_order,
        )  # fmt: skip
    return OrderPublic.of(escrow)
