"""Use cases of a failed inspection's way out (rejection, the supplier's remedy, the
return and its refund) and of a partial refund agreed outside a dispute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from services.escrow.domain import adjustments, rejections
from services.escrow.domain.errors import WrongParty
from services.escrow.domain.model import Escrow
from services.escrow.domain.records import DocumentRef
from services.escrow.domain.rules import Decision
from services.escrow.service_layer.commands import Caller, on_order
from services.escrow.service_layer.decisions import BeforeCommit
from services.escrow.service_layer.gateway import PaymentGateway
from services.escrow.service_layer.unit_of_work import UnitOfWorkFactory
from shared.clock import Clock
from shared.events.escrow import DisputeParty, RejectionRemedy


async def reject_milestone(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    remedy: str,
    reasons: Sequence[str],
    evidence: Sequence[str],
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """The buyer rejects a failed inspection: a dispute, or the return for a refund."""
    return await on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: rejections.reject_milestone(
            e, milestone_id, remedy, reasons, evidence, caller.actor, clock.now()
        ),
        before_commit,
    )  # fmt: skip


async def answer_rejection(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    remedy: RejectionRemedy,
    before_commit: BeforeCommit | None = None,
    *,
    party: DisputeParty = "supplier",
) -> Escrow:
    """The supplier takes the goods back, asks for a re-inspection, or replaces them."""

    def answer(e: Escrow) -> Decision:
        _supplier_step(party, "answers a rejection")
        return rejections.answer_rejection(e, milestone_id, remedy, clock.now(), caller.actor)

    return await on_order(uows, clock, gateway, caller, order_id, answer, before_commit)


async def ship_return(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    carrier: str,
    tracking: str,
    document: DocumentRef | None,
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    return await on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: rejections.ship_return(e, milestone_id, carrier, tracking, document, clock.now()),
        before_commit,
    )  # fmt: skip


async def confirm_return(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    before_commit: BeforeCommit | None = None,
    *,
    party: DisputeParty = "supplier",
) -> Escrow:
    """The supplier has the goods back: the buyer is refunded through Stripe (inline)."""

    def confirm(e: Escrow) -> Decision:
        _supplier_step(party, "confirms the return's receipt")
        return rejections.confirm_return(e, milestone_id)

    return await on_order(uows, clock, gateway, caller, order_id, confirm, before_commit)


def _supplier_step(party: DisputeParty, step: str) -> None:
    """Checked once the caller's order is found (another tenant's or supplier's is a 404
    first), as the dispute steps check the party in the domain."""
    if party != "supplier":
        raise WrongParty(f"the supplier {step}, not the buyer")


async def propose_partial_refund(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    party: DisputeParty,
    milestone_id: str,
    amount: int,
    reason: str,
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    return await on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: adjustments.propose_partial_refund(
            e, milestone_id, amount, reason, party, caller.actor, clock.now()
        ),
        before_commit,
    )  # fmt: skip


async def consent_partial_refund(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    party: DisputeParty,
    proposal_id: str,
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """The other party consents: the refund goes through Stripe (inline), to the unit."""
    return await on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: adjustments.consent_partial_refund(
            e, proposal_id, party, caller.actor, clock.now()
        ),
        before_commit,
    )  # fmt: skip


async def close_partial_refund(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    party: DisputeParty,
    proposal_id: str,
    outcome: Literal["declined", "withdrawn"],
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """Declined by the other party, or withdrawn by the proposer."""
    return await on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: adjustments.close_partial_refund(
            e, proposal_id, party, outcome, caller.actor, clock.now()
        ),
        before_commit,
    )  # fmt: skip
