"""Money back to the buyer: reserving refunds across payments, completing them, cancelling.

A refund is spread over the succeeded payments, most recent first, each up to what was not
refunded from it yet; a Stripe payment is refunded through Stripe (reserved now, completed
when Stripe answered), a wire is returned offline by finance and recorded at once.
"""

from __future__ import annotations

from services.escrow.domain.errors import (
    InsufficientFunds,
    InvalidAmount,
    InvalidTransition,
    RefundBeyondAvailable,
    RefundBeyondPayment,
)
from services.escrow.domain.model import Dispute, Escrow, Payment, Refund
from services.escrow.domain.rules import (
    Decision,
    check_invariants,
    complete_if_done,
    new_id,
    settle_milestone,
)
from shared.events import EventModel
from shared.events.escrow import Cancelled, Refunded
from shared.fx import FxConversion, allocate_part, funding_share, reversal_conversion

SHIPPED_EVIDENCE = frozenset({"shipment", "customs_clearance", "delivery", "inspection"})


def _allocate(
    escrow: Escrow, amount: int, first: str | None = None, via_stripe: bool = True
) -> list[tuple[Payment, int]]:
    """Latest payment first; ``first`` (a chargeback's card payment) before all others.

    A refund through Stripe skips a card payment with an open chargeback: Stripe refuses to
    refund a charged-back charge (and, if the bank rules for the cardholder, it has been
    returned already), so such a refund would stay reserved for ever."""
    parts: list[tuple[Payment, int]] = []
    left = amount
    charged_back = {d.payment_id for d in escrow.disputes if d.milestone_id is None and d.is_open}
    ordered = sorted(reversed(escrow.payments), key=lambda p: p.payment_id != first)
    for p in ordered:
        if left == 0:
            break
        if via_stripe and p.method == "stripe" and p.payment_id in charged_back:
            continue
        free = p.amount - p.refunded if p.status == "succeeded" else 0
        if free > 0:
            part = min(free, left)
            parts.append((p, part))
            left -= part
    if left:
        why = " (a card chargeback is open on a payment)" if charged_back else ""
        raise InsufficientFunds(f"payments cannot cover a refund of {amount}{why}")
    return parts


def _refunded_event(escrow: Escrow, refund: Refund) -> Refunded:
    return Refunded(
        order_id=escrow.order_id,
        refund_id=refund.refund_id,
        payment_id=refund.payment_id,
        amount=refund.amount,
        currency=escrow.currency,
        stripe_refund_id=refund.stripe_refund_id,
        reason=refund.reason,
        held_after=escrow.held,
        fx=refund.fx,
    )


def _book(escrow: Escrow, refund: Refund) -> Decision:
    """Count a completed refund: it leaves the escrow."""
    escrow = escrow.model_copy(update={"refunded": escrow.refunded + refund.amount})
    if refund.milestone_id is not None:
        m = escrow.milestone(refund.milestone_id)
        escrow = escrow.with_milestone(
            m.model_copy(update={"refunded_amount": m.refunded_amount + refund.amount})
        )
        escrow = settle_milestone(escrow, refund.milestone_id)
    return escrow, [_refunded_event(check_invariants(escrow), refund)]


def reserve_refund(
    escrow: Escrow,
    amount: int,
    reason: str,
    milestone_id: str | None,
    *,
    via_stripe: bool = True,
    payment_id: str | None = None,
    refund_id: str | None = None,
    chargeback: Dispute | None = None,
) -> Decision:
    """``refund_id``: the id of the (first) refund, when the caller derives it from what
    caused the refund (a Stripe event), so a re-run reserves the same refund.

    ``chargeback``: the card dispute whose loss this refund books. On a payment in the
    funding currency the bank took a known amount of it (``claimed_fx``), so the part of
    the refund on that payment converts back over the claim, not over the whole payment:
    the chargeback's refunds together return exactly what Stripe withdrew."""
    if amount <= 0:
        raise InvalidAmount("a refund must be positive")
    events: list[EventModel] = []
    for n, (payment, part) in enumerate(_allocate(escrow, amount, payment_id, via_stripe)):
        stripe = via_stripe and payment.method == "stripe"
        # Back into the funding currency at the payment's locked conversion (docs/fx.md):
        # the refund that empties the payment returns exactly what is left of its charge.
        fx = _reversal(escrow, payment, part, chargeback)
        refund = Refund(
            refund_id=refund_id if refund_id is not None and n == 0 else new_id(),
            payment_id=payment.payment_id,
            milestone_id=milestone_id,
            amount=part,
            reason=reason,
            via_stripe=stripe,
            status="pending" if stripe else "done",
            fx=fx,
            chargeback_id=(
                chargeback.dispute_id
                if chargeback is not None and payment.payment_id == chargeback.payment_id
                else None
            ),
        )
        returned = fx.to_amount if fx is not None else 0
        payments = tuple(
            p.model_copy(update={"refunded": p.refunded + part, "returned": p.returned + returned})
            if p.payment_id == payment.payment_id
            else p
            for p in escrow.payments
        )
        escrow = escrow.model_copy(
            update={"payments": payments, "refunds": (*escrow.refunds, refund)}
        )
        if not stripe:
            escrow, booked = _book(escrow, refund)
            events += booked
    if milestone_id is not None:
        escrow = settle_milestone(escrow, milestone_id)
    return check_invariants(escrow), events


def _reversal(
    escrow: Escrow, payment: Payment, part: int, chargeback: Dispute | None
) -> FxConversion | None:
    """``part`` contract minor units of ``payment`` back into its funding currency.

    Over the payment's locked conversion (the refund that empties the payment returns
    exactly what is left of its charge), or over a lost chargeback's claim: the claim's
    refunds so far are the chargeback's earlier refunds, and the one that empties the claim
    returns exactly what is left of what the bank took."""
    fx = payment.fx
    if fx is None:
        return None
    whole = reversal_conversion(
        fx, part, refunded_before=payment.refunded, returned_before=payment.returned
    )
    claim = chargeback.claimed_fx if chargeback is not None else None
    if (
        claim is None
        or chargeback is None
        or chargeback.payment_id != payment.payment_id
        or payment.refunded + part == payment.amount
    ):
        return whole
    earlier = [
        r for r in escrow.refunds if r.chargeback_id == chargeback.dispute_id and r.fx is not None
    ]
    contract_done = sum(r.amount for r in earlier)
    other_done = sum(r.fx.to_amount for r in earlier if r.fx is not None)
    if contract_done + part > claim.to_amount or other_done > claim.from_amount:
        return whole
    back = reversal_conversion(
        claim, part, refunded_before=contract_done, returned_before=other_done
    )
    if back.to_amount > fx.from_amount - payment.returned:
        return whole
    return back


def complete_refund(escrow: Escrow, refund_id: str, stripe_refund_id: str | None) -> Decision:
    """Stripe refunded: book it. A second completion of the same refund changes nothing."""
    refund = next((r for r in escrow.refunds if r.refund_id == refund_id), None)
    if refund is None or refund.status == "done":
        return escrow, []
    done = refund.model_copy(update={"status": "done", "stripe_refund_id": stripe_refund_id})
    refunds = tuple(done if r.refund_id == refund_id else r for r in escrow.refunds)
    escrow, events = _book(escrow.model_copy(update={"refunds": refunds}), done)
    escrow, completed = complete_if_done(escrow)
    return escrow, events + completed


def return_offline(escrow: Escrow, refund_id: str) -> Decision:
    """Finance gave up a pending Stripe refund and returned the money another way: book it
    as a refund without Stripe (``via_stripe`` False, no ``stripe_refund_id``)."""
    refund = next((r for r in escrow.refunds if r.refund_id == refund_id), None)
    if refund is None or refund.status != "pending" or not refund.via_stripe:
        raise InvalidTransition(f"refund {refund_id} is not a pending Stripe refund")
    offline = refund.model_copy(update={"via_stripe": False})
    refunds = tuple(offline if r.refund_id == refund_id else r for r in escrow.refunds)
    return complete_refund(escrow.model_copy(update={"refunds": refunds}), refund_id, None)


def cancel_order(escrow: Escrow, reason: str) -> Decision:
    """Cancel before shipment: unpaid milestones are cancelled, everything held goes back."""
    if escrow.closed:
        raise InvalidTransition(f"order is already {escrow.status}")
    shipped = [
        m.milestone_id
        for m in escrow.milestones
        if any(e.kind in SHIPPED_EVIDENCE for e in m.evidence)
    ]
    if shipped:
        raise InvalidTransition("the goods have shipped; only a dispute can return money now")
    busy = [m.milestone_id for m in escrow.milestones if m.status in ("releasing", "disputed")]
    if busy or escrow.reserved or escrow.frozen:
        raise InvalidTransition("a payout, refund or dispute is in progress")
    milestones = tuple(
        m if m.status in ("released", "refunded") else m.model_copy(update={"status": "cancelled"})
        for m in escrow.milestones
    )
    refund_amount = escrow.held
    escrow = escrow.model_copy(update={"milestones": milestones, "status": "cancelled"})
    events: list[EventModel] = [
        Cancelled(
            order_id=escrow.order_id,
            reason=reason,
            refund_amount=refund_amount,
            currency=escrow.currency,
        )
    ]
    if refund_amount:
        escrow, refunded = reserve_refund(escrow, refund_amount, f"cancelled: {reason}", None)
        events += refunded
    return escrow, events


def record_external_refund(
    escrow: Escrow, payment_id: str, stripe_refund_id: str, amount: int
) -> Decision:
    """A refund made outside Tradeflow (Stripe dashboard) seen in charge.refunded.

    ``amount`` is in the charge's currency: for a payment in the funding currency
    (docs/fx.md) that is what Stripe gave back of ``fx.from_amount``; the contract amount it
    takes from the escrow is its share at the payment's locked conversion
    (``funding_share``), and the refund's conversion returns exactly ``amount``."""
    if any(r.stripe_refund_id == stripe_refund_id for r in escrow.refunds):
        return escrow, []
    payment = next(p for p in escrow.payments if p.payment_id == payment_id)
    if payment.fx is not None:
        return _external_fx_refund(escrow, payment, payment.fx, stripe_refund_id, amount)
    left = payment.amount - payment.refunded
    if not 0 < amount <= left:
        raise RefundBeyondPayment(
            f"external refund {amount}: payment {payment_id} has {left} left to refund",
            stripe_refund_id=stripe_refund_id,
            payment_id=payment_id,
            amount=amount,
            bookable=max(0, min(left, escrow.available)),
        )
    if amount > escrow.available:
        raise RefundBeyondAvailable(
            f"external refund {amount} exceeds available {escrow.available}",
            stripe_refund_id=stripe_refund_id,
            payment_id=payment_id,
            amount=amount,
            bookable=max(0, escrow.available),
        )
    return _book_external(escrow, payment, stripe_refund_id, amount, None)


def _external_fx_refund(
    escrow: Escrow, payment: Payment, fx: FxConversion, stripe_refund_id: str, amount: int
) -> Decision:
    """``amount`` (funding currency) back from a payment at a locked conversion. A refusal
    counts in the funding currency, as Stripe refunded it."""
    left = fx.from_amount - payment.returned
    contract_left = payment.amount - payment.refunded
    if not 0 < amount <= left or contract_left <= 0:
        raise RefundBeyondPayment(
            f"external refund {amount} {fx.from_currency}: payment {payment.payment_id} has "
            f"{left} left to refund",
            stripe_refund_id=stripe_refund_id,
            payment_id=payment.payment_id,
            amount=amount,
            bookable=max(0, left) if contract_left > 0 else 0,
            currency=fx.from_currency,
        )
    share = funding_share(
        fx, amount, refunded_before=payment.refunded, returned_before=payment.returned
    )
    if share.to_amount > escrow.available:
        free = max(0, escrow.available)
        bookable = (
            allocate_part(
                free,
                contract_total=contract_left,
                other_total=left,
                contract_done=0,
                other_done=0,
            )
            if free
            else 0
        )
        raise RefundBeyondAvailable(
            f"external refund {amount} {fx.from_currency} ({share.to_amount} {escrow.currency})"
            f" exceeds available {escrow.available}",
            stripe_refund_id=stripe_refund_id,
            payment_id=payment.payment_id,
            amount=amount,
            bookable=bookable,
            currency=fx.from_currency,
        )
    back = reversal_conversion(share, share.to_amount, refunded_before=0, returned_before=0)
    return _book_external(escrow, payment, stripe_refund_id, share.to_amount, back)


def _book_external(
    escrow: Escrow,
    payment: Payment,
    stripe_refund_id: str,
    amount: int,
    fx: FxConversion | None,
) -> Decision:
    refund = Refund(
        refund_id=new_id(),
        payment_id=payment.payment_id,
        milestone_id=None,
        amount=amount,
        reason="refunded outside Tradeflow",
        via_stripe=True,
        status="done",
        stripe_refund_id=stripe_refund_id,
        fx=fx,
    )
    returned = fx.to_amount if fx is not None else 0
    payments = tuple(
        p.model_copy(update={"refunded": p.refunded + amount, "returned": p.returned + returned})
        if p.payment_id == payment.payment_id
        else p
        for p in escrow.payments
    )
    escrow = escrow.model_copy(update={"payments": payments, "refunds": (*escrow.refunds, refund)})
    return _book(escrow, refund)
