"""Posting rules for the escrow service's money events (funded, milestone released, refunded).

Escrow held is kept per order (sub-ledger = order_id). A release posts the release and, when
the Stripe transfer to the supplier went out with it, the payout in the same transaction.
"""

from __future__ import annotations

from services.ledger.domain.chart import (
    ADVANCE_RECEIVABLE,
    BANK,
    DISPUTED_FUNDS,
    ESCROW_HELD,
    PLATFORM_FEE_REVENUE,
    STRIPE_CLEARING,
    SUPPLIER_PAYABLE,
)
from services.ledger.domain.journal import Line, cr, dr
from services.ledger.domain.rule import Rule, keyed
from shared.events import EventModel
from shared.events.escrow import CHARGEBACK_REASON, Funded, MilestoneReleased, Refunded

EH, SC, SP = ESCROW_HELD.code, STRIPE_CLEARING.code, SUPPLIER_PAYABLE.code


def escrow_funded(e: Funded) -> tuple[str, list[Line]]:
    """Dr Stripe clearing (ref = charge, else payment intent) or Dr bank for a wire /
    Cr escrow held[order]."""
    c, o = e.currency, e.order_id
    if e.method == "wire":
        cash = dr(BANK.code, c, e.amount)
    else:
        cash = dr(SC, c, e.amount, ref=e.stripe_charge_id or e.stripe_payment_intent_id)
    return f"order {o} funded ({e.method}) payment {e.payment_id}", [cash, cr(EH, c, e.amount, o)]


def milestone_released(e: MilestoneReleased) -> tuple[str, list[Line]]:
    """Dr escrow held[order] gross / Cr platform fee revenue, Cr advance receivable[advance]
    (lien repayment), Cr supplier payable (net); then, with a transfer: Dr supplier payable /
    Cr Stripe clearing (ref = transfer)."""
    c, o = e.currency, e.order_id
    if e.gross != e.platform_fee + e.lien_repayment + e.supplier_net:
        raise ValueError(
            f"gross {e.gross} != fee {e.platform_fee} + lien {e.lien_repayment} + net {e.supplier_net}"
        )
    lines = [dr(EH, c, e.gross, o)]
    if e.platform_fee:
        lines.append(cr(PLATFORM_FEE_REVENUE.code, c, e.platform_fee))
    if e.lien_repayment:
        if not e.advance_id:
            raise ValueError("a lien repayment needs the advance it repays")
        lines.append(cr(ADVANCE_RECEIVABLE.code, c, e.lien_repayment, e.advance_id))
    if e.supplier_net:
        lines.append(cr(SP, c, e.supplier_net))
        if e.stripe_transfer_id:
            lines += [
                dr(SP, c, e.supplier_net),
                cr(SC, c, e.supplier_net, ref=e.stripe_transfer_id),
            ]
    return f"order {o} milestone {e.milestone_id} released", lines


def escrow_refunded(e: Refunded) -> tuple[str, list[Line]]:
    """Dr escrow held[order] / Cr Stripe clearing (ref = refund), or Cr bank without one
    (a wire returned offline); a lost chargeback: Cr disputed_funds, where the Stripe books
    put Stripe's dispute debit (Dr disputed_funds / Cr Stripe clearing), which this clears."""
    c, o = e.currency, e.order_id
    if e.stripe_refund_id:
        cash = cr(SC, c, e.amount, ref=e.stripe_refund_id)
    elif e.reason == CHARGEBACK_REASON:
        cash = cr(DISPUTED_FUNDS.code, c, e.amount)
    else:
        cash = cr(BANK.code, c, e.amount)
    return f"order {o} refund {e.refund_id}: {e.reason}", [dr(EH, c, e.amount, o), cash]


# Keyed by the current model: an older version is upcast to it before the lookup, so a
# v1 milestone_released (no payout_id) posts by the same rule as v2, line for line.
ESCROW_RULES: dict[type[EventModel], Rule] = dict(
    [
        keyed(Funded, escrow_funded),
        keyed(MilestoneReleased, milestone_released),
        keyed(Refunded, escrow_refunded),
    ]
)
