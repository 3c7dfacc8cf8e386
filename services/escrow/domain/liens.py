"""Liens for supplier advances: financing asks, escrow places or refuses, later releases.

Capacity: a lien may claim at most what future releases can repay, i.e. the unpaid,
undisputed milestones' amounts less their platform fees. One advance at a time per order.
"""

from __future__ import annotations

from services.escrow.domain.model import Escrow, Lien
from services.escrow.domain.rules import Decision, split_release, unpaid
from shared.events.escrow import LienPlaced, LienRefused, LienReleased

OPEN_FOR_LIEN = ("awaiting_evidence", "in_inspection", "accepted")


def lien_capacity(escrow: Escrow) -> int:
    """What future releases can still repay: the unpaid part of each open milestone (less
    than its amount once a partial refund went back to the buyer), less its fee."""
    total = 0
    for m in escrow.milestones:
        left = unpaid(escrow, m.milestone_id)
        if m.status in OPEN_FOR_LIEN and left > 0:
            split = split_release(left, escrow.platform_fee_bps, escrow.platform_fee_fixed, None)
            total += split.gross - split.platform_fee
    return total


def lien_shortfall(escrow: Escrow) -> int:
    """What of the active lien future releases can no longer repay (after a refund)."""
    lien = escrow.lien
    return max(0, lien.outstanding - lien_capacity(escrow)) if lien is not None else 0


def request_lien(
    escrow: Escrow, advance_id: str, amount: int, currency: str, supplier_id: str
) -> Decision:
    lien = escrow.lien
    if lien is not None and lien.advance_id == advance_id and lien.status == "active":
        placed = LienPlaced(
            order_id=escrow.order_id,
            advance_id=advance_id,
            amount=lien.amount,
            currency=escrow.currency,
        )
        return escrow, [placed]  # asked again: answer again, change nothing
    was_released = lien is not None and lien.advance_id == advance_id  # i.e. not active
    if was_released or advance_id in escrow.released_advances:
        refused = ["lien_already_released"]
        return escrow, [
            LienRefused(order_id=escrow.order_id, advance_id=advance_id, reasons=refused)
        ]
    reasons = []
    if escrow.closed:
        reasons.append(f"order_{escrow.status}")
    if not escrow.fully_funded:
        reasons.append("escrow_not_fully_funded")
    if currency != escrow.currency:
        reasons.append("currency_mismatch")
    if supplier_id != escrow.supplier_id:
        reasons.append("supplier_mismatch")
    if lien is not None and lien.status == "active":
        reasons.append("lien_already_active")
    if escrow.frozen:
        reasons.append("escrow_disputed")
    if amount > lien_capacity(escrow):
        reasons.append("amount_exceeds_future_releases")
    if reasons:
        return escrow, [
            LienRefused(order_id=escrow.order_id, advance_id=advance_id, reasons=reasons)
        ]
    escrow = escrow.model_copy(update={"lien": Lien(advance_id=advance_id, amount=amount)})
    return escrow, [
        LienPlaced(
            order_id=escrow.order_id, advance_id=advance_id, amount=amount, currency=currency
        )
    ]


def release_lien(escrow: Escrow, advance_id: str, reason: str) -> Decision:
    if advance_id in escrow.released_advances:
        return escrow, []  # already released: nothing to do
    escrow = escrow.model_copy(
        update={"released_advances": (*escrow.released_advances, advance_id)}
    )
    lien = escrow.lien
    if lien is None or lien.advance_id != advance_id or lien.status != "active":
        return escrow, []  # the request has not arrived yet: remember to refuse it
    escrow = escrow.model_copy(update={"lien": lien.model_copy(update={"status": "released"})})
    released = LienReleased(
        order_id=escrow.order_id, advance_id=advance_id, reason=reason, repaid=lien.repaid
    )
    return escrow, [released]
