"""Releasing a milestone to the supplier: fee, then lien repayment, then the transfer.

``begin_release`` reserves the payout (its split is fixed then, and the lien repayment is
claimed so a concurrent release cannot repay the same lien twice); ``complete_payout``
books it once Stripe made the transfer; ``abort_payout`` puts the milestone back to
``accepted`` when the transfer was refused, so it can be retried.
"""

from __future__ import annotations

from services.escrow.domain.errors import (
    EscrowError,
    FxQuoteMismatch,
    FxQuoteRequired,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransition,
)
from services.escrow.domain.model import Escrow, Payout
from services.escrow.domain.rules import (
    Decision,
    check_invariants,
    complete_if_done,
    new_id,
    settle_milestone,
    split_release,
    unpaid,
)
from shared.events import EventModel
from shared.events.escrow import LienReleased, MilestoneReleased
from shared.fx import FxConversion, allocated_payout


def source_charge(escrow: Escrow, amount: int) -> str | None:
    """The charge a transfer of ``amount`` is made from (Stripe's ``source_transaction``):
    Stripe then makes it when that charge's funds are available, instead of refusing it
    while the card money is still pending in the platform balance.

    Only the order's *funding charge*: the first succeeded card payment that paid at least
    the whole contract total. Stripe refuses transfers from one charge that add up to more
    than the charge, and two services transfer to the supplier (these payouts, and
    financing's advance, which applies the same rule, ``services/financing/domain/orders.py``);
    everything an order ever transfers to its supplier (the advance's net plus the payouts'
    ``supplier_net``, the lien repaid first) stays within the total less the fees, so such
    a charge covers all of it without the two services coordinating. Checked again here
    against what was refunded from it and what earlier payouts took. None (the platform
    balance, as before) for an order funded in parts or by wire."""
    if amount <= 0 or escrow.payout_ccy != escrow.funding_ccy:
        return None  # a transfer in another currency than the charge's: from the balance
    for p in escrow.payments:
        if p.status != "succeeded" or p.method != "stripe" or not p.stripe_charge_id:
            continue
        if p.amount < escrow.total:
            continue
        sourced = sum(
            q.supplier_net for q in escrow.payouts if q.source_charge_id == p.stripe_charge_id
        )
        return p.stripe_charge_id if p.amount - p.refunded - sourced >= amount else None
    return None


def payout_conversion_for(
    escrow: Escrow, supplier_net: int, given: FxConversion | None
) -> FxConversion | None:
    """``supplier_net`` in the payout currency (docs/fx.md): None when it is the contract's
    (or nothing is transferred). The "order" policy allocates the locked conversion of the
    total (``allocated_payout``: the release converting its last unit takes what is left);
    the "milestone" policy takes ``given`` (from a quote at release, or the rate in force),
    which must convert exactly ``supplier_net``; without one the release waits."""
    if not escrow.converts_payouts or supplier_net <= 0:
        return None
    if escrow.fx_policy == "order" and escrow.payout_lock is not None:
        taken = [p.payout_fx for p in escrow.payouts if p.payout_fx is not None]
        return allocated_payout(
            escrow.payout_lock,
            supplier_net,
            converted_before=sum(fx.from_amount for fx in taken),
            paid_before=sum(fx.to_amount for fx in taken),
        )
    if given is None:
        raise FxQuoteRequired(
            f"a release into {escrow.payout_ccy} needs a quote (or a rate in force) for "
            f"{supplier_net} {escrow.currency}"
        )
    if (given.from_currency, given.to_currency, given.from_amount) != (
        escrow.currency,
        escrow.payout_ccy,
        supplier_net,
    ):
        raise FxQuoteMismatch(
            f"the release converts {supplier_net} {escrow.currency} into {escrow.payout_ccy}; "
            f"the quote converts {given.from_amount} {given.from_currency} into "
            f"{given.to_currency}"
        )
    return given


def release_split(escrow: Escrow, milestone_id: str, gross: int | None = None) -> int:
    """The supplier_net a release of ``milestone_id`` would transfer now (what a quote for
    the "milestone" policy converts)."""
    remaining = unpaid(escrow, milestone_id)
    gross = remaining if gross is None else gross
    split = split_release(gross, escrow.platform_fee_bps, escrow.platform_fee_fixed, escrow.lien)
    return split.supplier_net


def begin_release(
    escrow: Escrow,
    milestone_id: str,
    gross: int | None = None,
    payout_fx: FxConversion | None = None,
) -> Decision:
    """Reserve the payout of an accepted milestone (``gross`` < amount after a split).
    ``payout_fx``: the "milestone" policy's conversion (``payout_conversion_for``)."""
    m = escrow.milestone(milestone_id)
    if escrow.status == "cancelled" or m.status != "accepted":
        raise InvalidTransition(f"milestone is {m.status} (order {escrow.status}): cannot release")
    if escrow.chargeback_open:
        raise InvalidTransition("a card chargeback freezes this escrow")
    remaining = unpaid(escrow, milestone_id)
    gross = remaining if gross is None else gross
    if not 0 < gross <= remaining:
        raise InvalidAmount(f"a release must be between 1 and the unpaid {remaining}")
    if gross > escrow.available:
        raise InsufficientFunds(f"release of {gross} exceeds the available {escrow.available}")
    split = split_release(gross, escrow.platform_fee_bps, escrow.platform_fee_fixed, escrow.lien)
    converted = payout_conversion_for(escrow, split.supplier_net, payout_fx)
    payout = Payout(
        payout_id=new_id(),
        milestone_id=milestone_id,
        gross=split.gross,
        platform_fee=split.platform_fee,
        lien_repayment=split.lien_repayment,
        supplier_net=split.supplier_net,
        advance_id=split.advance_id,
        source_charge_id=source_charge(escrow, split.supplier_net),
        payout_fx=converted,
    )
    lien = escrow.lien
    if lien is not None and split.lien_repayment:
        lien = lien.model_copy(update={"repaid": lien.repaid + split.lien_repayment})
    escrow = escrow.model_copy(update={"payouts": (*escrow.payouts, payout), "lien": lien})
    return check_invariants(settle_milestone(escrow, milestone_id)), []


def release_what_is_due(escrow: Escrow) -> Escrow:
    """Reserve the payout of every accepted milestone nothing is paying yet.

    A milestone accepted while a chargeback froze the escrow (its window lapsed, or the buyer
    accepted) keeps its acceptance but could not be paid. When the freeze lifts nothing else
    would pay it: no timer is left and the buyer has accepted already. One that still cannot
    be paid (the money went back to the cardholder) stays accepted for a later release call.
    """
    for m in escrow.milestones:
        if m.status == "accepted" and not escrow.chargeback_open:
            try:
                escrow, _ = begin_release(escrow, m.milestone_id)
            except EscrowError:
                continue
    return escrow


def pending_payout(escrow: Escrow, payout_id: str) -> Payout | None:
    return next(
        (p for p in escrow.payouts if p.payout_id == payout_id and p.status == "pending"), None
    )


def complete_payout(escrow: Escrow, payout_id: str, stripe_transfer_id: str | None) -> Decision:
    """Book a payout Stripe made. Completing it twice changes nothing the second time."""
    payout = pending_payout(escrow, payout_id)
    if payout is None:
        return escrow, []
    done = payout.model_copy(update={"status": "done", "stripe_transfer_id": stripe_transfer_id})
    m = escrow.milestone(payout.milestone_id)
    escrow = escrow.model_copy(
        update={
            "payouts": tuple(done if p.payout_id == payout_id else p for p in escrow.payouts),
            "released": escrow.released + payout.gross,
        }
    ).with_milestone(m.model_copy(update={"released_amount": m.released_amount + payout.gross}))
    escrow = check_invariants(settle_milestone(escrow, payout.milestone_id))
    events: list[EventModel] = [
        MilestoneReleased(
            order_id=escrow.order_id,
            milestone_id=payout.milestone_id,
            payout_id=payout.payout_id,
            currency=escrow.currency,
            gross=payout.gross,
            platform_fee=payout.platform_fee,
            lien_repayment=payout.lien_repayment,
            supplier_net=payout.supplier_net,
            advance_id=payout.advance_id,
            stripe_transfer_id=stripe_transfer_id,
            held_after=escrow.held,
            payout_fx=payout.payout_fx,
        )
    ]
    lien = escrow.lien
    if (
        lien is not None
        and lien.status == "active"
        and payout.lien_repayment
        and not lien.outstanding
    ):
        escrow = escrow.model_copy(
            update={
                "lien": lien.model_copy(update={"status": "released"}),
                "released_advances": (*escrow.released_advances, lien.advance_id),
            }
        )
        events.append(
            LienReleased(
                order_id=escrow.order_id,
                advance_id=lien.advance_id,
                reason="repaid",
                repaid=lien.repaid,
            )
        )
    escrow, completed = complete_if_done(escrow)
    return escrow, events + completed


def abort_payout(escrow: Escrow, payout_id: str) -> Decision:
    """Stripe refused the transfer: give back the reservation; the milestone stays accepted."""
    payout = pending_payout(escrow, payout_id)
    if payout is None:
        return escrow, []
    lien = escrow.lien
    if lien is not None and payout.lien_repayment:
        lien = lien.model_copy(update={"repaid": lien.repaid - payout.lien_repayment})
    m = escrow.milestone(payout.milestone_id)
    escrow = escrow.model_copy(
        update={
            "payouts": tuple(p for p in escrow.payouts if p.payout_id != payout_id),
            "lien": lien,
        }
    ).with_milestone(m.model_copy(update={"status": "accepted"}))
    return check_invariants(escrow), []
