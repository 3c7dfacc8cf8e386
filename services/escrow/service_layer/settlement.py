"""Paying out and refunding through the gateway, then booking the result.

The idempotency key of every Stripe call is derived from the reservation id, which is also
the id of the event booking it. Repeating the call (inline after the commit, then again by
the settlement timer after a crash) therefore moves the money once.

Settlement is *how* money leaves, not *who* moved it: what a settlement books is attributed
to whoever caused the reservation (``requested_by``: the API key that accepted or cancelled,
``system:inspection_window``, ...); ``system:settlement`` only for reservations older than
that record.
"""

from __future__ import annotations

import structlog

from services.escrow.domain.model import Escrow
from services.escrow.domain.payouts import abort_payout, complete_payout
from services.escrow.domain.refunds import complete_refund
from services.escrow.service_layer.causes import Cause
from services.escrow.service_layer.decisions import (
    BeforeCommit,
    Decide,
    decide,
    pending_effects,
    write_decision,
)
from services.escrow.service_layer.gateway import (
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
)
from services.escrow.service_layer.unit_of_work import (
    AbstractEscrowUnitOfWork,
    UnitOfWorkFactory,
)
from shared.clock import Clock

log = structlog.get_logger(__name__)
ACTOR = "system:settlement"  # reservations that do not say who caused them


class RefundRefused(GatewayUnavailable):
    """Stripe refused a reserved refund. Still a reason to retry (the reservation stays,
    the settlement timer calls again under the same key), but one that is counted."""

    def __init__(self, refund_id: str, message: str) -> None:
        super().__init__(message)
        self.refund_id = refund_id
        self.message = message


def cause_of(escrow: Escrow, effect_id: str) -> str:
    """Who caused the payout or refund ``effect_id``."""
    requesters = {p.payout_id: p.requested_by for p in escrow.payouts}
    requesters |= {r.refund_id: r.requested_by for r in escrow.refunds}
    return requesters.get(effect_id) or ACTOR


def payout_key(payout_id: str) -> str:
    return f"escrow-payout-{payout_id}"


def refund_key(refund_id: str) -> str:
    return f"escrow-refund-{refund_id}"


async def effect(gateway: PaymentGateway, escrow: Escrow, effect_id: str) -> Decide | None:
    """Make the Stripe call of a reserved payout/refund; the decision that books its outcome.

    None when there is nothing to do (already completed) or Stripe is unavailable (the
    reservation stays; the settlement timer retries with the same idempotency key). A
    refund Stripe refuses raises ``RefundRefused`` (it stays reserved all the same).
    """
    meta = {"order_id": escrow.order_id, "tenant_id": escrow.tenant_id}
    payout = next((p for p in escrow.payouts if p.payout_id == effect_id), None)
    if payout is not None and payout.status == "pending":
        transfer_id = None
        try:
            fx = payout.payout_fx
            if payout.supplier_net > 0 and (fx is None or fx.to_amount > 0):
                # In the payout currency when it is another (docs/fx.md): the conversion's
                # to_amount, fixed when the payout was reserved, so every retry is the same.
                transfer_id = await gateway.transfer(
                    amount=fx.to_amount if fx is not None else payout.supplier_net,
                    currency=fx.to_currency if fx is not None else escrow.currency,
                    destination=escrow.supplier_account_id,
                    transfer_group=escrow.order_id,
                    metadata={
                        **meta,
                        "payout_id": payout.payout_id,
                        "milestone_id": payout.milestone_id,
                    },
                    idempotency_key=payout_key(payout.payout_id),
                    source_transaction=payout.source_charge_id,
                )
        except GatewayRefused as exc:
            log.warning("escrow.transfer_refused", payout_id=effect_id, error=str(exc))
            return lambda e: abort_payout(e, effect_id)
        except GatewayUnavailable as exc:
            log.warning("escrow.transfer_deferred", payout_id=effect_id, error=str(exc))
            return None
        return lambda e: complete_payout(e, effect_id, transfer_id)
    refund = next((r for r in escrow.refunds if r.refund_id == effect_id), None)
    if refund is not None and refund.status == "pending":
        payment = next(p for p in escrow.payments if p.payment_id == refund.payment_id)
        if refund.fx is not None and refund.fx.to_amount == 0:
            # Its share of the charge rounds to nothing (the allocation rule, docs/fx.md):
            # nothing goes back at Stripe (which refuses 0); booked as it is.
            return lambda e: complete_refund(e, effect_id, None)
        try:
            assert payment.stripe_payment_intent_id is not None
            refund_id = await gateway.refund(
                payment_intent_id=payment.stripe_payment_intent_id,
                # In the funding currency for a payment made in it: the locked reversal.
                amount=refund.fx.to_amount if refund.fx is not None else refund.amount,
                metadata={**meta, "refund_id": refund.refund_id},
                idempotency_key=refund_key(refund.refund_id),
            )
        except GatewayRefused as exc:
            # Money owed to the buyer stays reserved and the timer retries it; the refusals
            # the timer meets are counted (operations.refund_refused), finance alerted.
            log.error("escrow.refund_refused", refund_id=effect_id, error=str(exc))
            raise RefundRefused(effect_id, str(exc)) from exc
        except GatewayUnavailable as exc:
            log.error("escrow.refund_deferred", refund_id=effect_id, error=str(exc))
            return None
        return lambda e: complete_refund(e, effect_id, refund_id)
    return None


async def settle(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    escrow: Escrow,
    effect_ids: list[str],
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """Inline path, right after the reserving commit: one unit of work per booking."""
    for effect_id in effect_ids:
        try:
            booking = await effect(gateway, escrow, effect_id)
        except RefundRefused:
            continue  # reserved still: the settlement timer retries it, and counts
        if booking is not None:
            actor = cause_of(escrow, effect_id)
            escrow, _ = await decide(
                uows, clock, escrow.order_id, escrow.tenant_id, booking, actor, before_commit
            )
    return escrow


async def settle_in(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    gateway: PaymentGateway,
    order_id: str,
    effect_id: str,
    cause: Cause | None = None,
) -> None:
    """Timer path, in the timer's unit of work (the caller commits). ``cause``: the reserving
    decision's (the timer's payload carries it), so the booking joins that decision's
    conversation."""
    escrow = await uow.escrows.get(order_id)
    if escrow is None:
        return
    booking = await effect(gateway, escrow, effect_id)
    if booking is None:
        if effect_id in pending_effects(escrow):
            raise GatewayUnavailable(f"{effect_id} is still pending; the timer retries it")
        return
    after, events = booking(escrow)
    actor = cause_of(escrow, effect_id)
    await write_decision(uow, clock, escrow, after, events, actor, cause)
