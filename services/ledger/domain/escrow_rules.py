"""Posting rules for the escrow service's money events (funded, milestone released, refunded).

Escrow held is kept per order (sub-ledger = order_id). A release posts the release and, when
the Stripe transfer to the supplier went out with it, the payout in the same transaction.

With an FX conversion (``fx`` of a funding or refund, ``payout_fx`` of a release) the money
crosses currencies through FX clearing (``domain/fx.py``, docs/fx.md): a funding in EUR
credits escrow held in the contract currency, a payout leaves in the payout currency, a
refund goes back in the funding currency. Without one the lines are exactly as before.
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
from services.ledger.domain.fx import Conversion, Leg, conversion_lines
from services.ledger.domain.journal import Line, cr, dr
from services.ledger.domain.rule import Rule, keyed
from shared.events import EventModel
from shared.events.escrow import CHARGEBACK_REASON, Funded, MilestoneReleased, Refunded

EH, SC, SP = ESCROW_HELD.code, STRIPE_CLEARING.code, SUPPLIER_PAYABLE.code


def escrow_funded(e: Funded) -> tuple[str, list[Line]]:
    """Dr Stripe clearing (ref = charge, else payment intent) or Dr bank for a wire /
    Cr escrow held[order]."""
    c, o = e.currency, e.order_id
    memo = f"order {o} funded ({e.method}) payment {e.payment_id}"
    ref = None if e.method == "wire" else e.stripe_charge_id or e.stripe_payment_intent_id
    fx: Conversion | None = e.fx
    if fx is not None:
        _check_side(fx.to_currency, fx.to_amount, c, e.amount, "funding credits")
        cash_leg = Leg(BANK.code) if e.method == "wire" else Leg(SC, ref=ref)
        lines = conversion_lines(fx, cash_leg, Leg(EH, o), ref or e.payment_id)
        return f"{memo}: {fx.from_amount} {fx.from_currency} -> {e.amount} {c}", lines
    cash = dr(BANK.code, c, e.amount) if e.method == "wire" else dr(SC, c, e.amount, ref=ref)
    return memo, [cash, cr(EH, c, e.amount, o)]


def _check_side(currency: str, amount: int, want_currency: str, want: int, what: str) -> None:
    if (currency, amount) != (want_currency, want):
        raise ValueError(
            f"the conversion's {amount} {currency} is not the {what} {want} {want_currency}"
        )


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
    fx: Conversion | None = e.payout_fx
    if fx is not None and e.supplier_net:
        # The payout converted: out of supplier payable in the contract currency, through
        # FX clearing, to Stripe clearing (the transfer) or, with none, supplier payable
        # in the payout currency.
        _check_side(fx.from_currency, fx.from_amount, c, e.supplier_net, "supplier net")
        lines.append(cr(SP, c, e.supplier_net))
        ref = e.stripe_transfer_id
        to = Leg(SC, ref=ref) if ref else Leg(SP)
        lines += conversion_lines(fx, Leg(SP), to, ref or e.payout_id or e.milestone_id)
    elif e.supplier_net:
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
    memo = f"order {o} refund {e.refund_id}: {e.reason}"
    fx: Conversion | None = e.fx
    if fx is not None:
        # Back in the funding currency: out of escrow held, through FX clearing, to Stripe
        # clearing (the refund), else the bank (a wire returned) or disputed funds (chargeback).
        _check_side(fx.from_currency, fx.from_amount, c, e.amount, "refunded")
        ref = e.stripe_refund_id
        to = (
            Leg(SC, ref=ref) if ref
            else Leg(DISPUTED_FUNDS.code) if e.reason == CHARGEBACK_REASON
            else Leg(BANK.code)
        )  # fmt: skip
        return memo, conversion_lines(fx, Leg(EH, o), to, ref or e.refund_id)
    if e.stripe_refund_id:
        cash = cr(SC, c, e.amount, ref=e.stripe_refund_id)
    elif e.reason == CHARGEBACK_REASON:
        cash = cr(DISPUTED_FUNDS.code, c, e.amount)
    else:
        cash = cr(BANK.code, c, e.amount)
    return memo, [dr(EH, c, e.amount, o), cash]


# Keyed by the current model: an older version is upcast to it before the lookup, so a
# v1 milestone_released (no payout_id) posts by the same rule as v2, line for line.
ESCROW_RULES: dict[type[EventModel], Rule] = dict(
    [
        keyed(Funded, escrow_funded),
        keyed(MilestoneReleased, milestone_released),
        keyed(Refunded, escrow_refunded),
    ]
)
