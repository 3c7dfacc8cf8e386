"""From quote to money out: offer or refusal, acceptance, expiry, the lien saga, disbursement.

Saga (docs/financing.md, "The lien saga"): accept -> ``financing.lien_requested`` -> escrow answers
``lien_placed`` (disburse by Stripe transfer) or ``lien_refused`` (cancel). A failed transfer
cancels the advance and asks escrow to release the lien. Answers that arrive twice or late
are harmless: ``on_lien_placed`` says what to do for the advance's current state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from enum import Enum

from services.financing.domain.advance import (
    ACCEPTED,
    CANCELLED,
    EXPIRED,
    OFFERED,
    REJECTED,
    Advance,
    AdvanceRuleViolated,
    Step,
)
from services.financing.domain.fx import payout_conversion_of
from services.financing.domain.orders import OrderView
from services.financing.domain.policy import Policy
from services.financing.domain.sizing import Offer, Refusal
from shared.events.financing import (
    AdvanceDisbursed,
    AdvanceOffered,
    AdvanceRefused,
    LienReleaseRequested,
    LienRequested,
)
from shared.fx import FxConversion

SYSTEM = "system:financing"


def open_advance(
    advance_id: str,
    order: OrderView,
    supplier_id: str,
    outcome: Offer | Refusal,
    policy: Policy,
    now: datetime,
    metadata: Mapping[str, str] | None = None,
    external_reference: str | None = None,
) -> Step:
    """A new advance: ``offered`` with its price, or ``rejected`` with its reasons; with the
    platform's own data (``metadata``, ``external_reference``) on it and its event."""
    platform_data = {"metadata": dict(metadata or {}), "external_reference": external_reference}
    base = Advance(
        advance_id=advance_id,
        tenant_id=order.tenant_id,
        order_id=order.order_id,
        supplier_id=supplier_id,
        buyer_id=order.buyer_id,
        currency=order.currency,
        state=REJECTED,
        principal=0,
        fee=0,
        term_days=0,
        daily_fee_rate=policy.daily_fee_rate,
        apr=Decimal(0),
        created_at=now,
        expires_at=now,
        metadata=dict(metadata or {}),
        external_reference=external_reference,
    )
    if isinstance(outcome, Refusal):
        codes = tuple(r.code for r in outcome.reasons)
        refused = AdvanceRefused(
            advance_id=advance_id,
            order_id=order.order_id,
            supplier_id=supplier_id,
            reasons=list(codes),
            **platform_data,
        )
        return replace(base, reasons=codes), [refused]
    p = outcome.price
    fx = outcome.payout
    advance = replace(
        base,
        payout_currency=fx.currency if fx else None,
        payout_net=fx.net if fx else None,
        payout_rate=fx.rate if fx else None,
        locked_rate=fx.locked_rate if fx else None,
        fx_haircut_bps=fx.fx_haircut_bps if fx else 0,
        state=OFFERED,
        principal=p.principal,
        fee=p.fee,
        term_days=p.term_days,
        apr=p.apr,
        expires_at=now + policy.offer_ttl,
    )
    offered = AdvanceOffered(
        advance_id=advance_id,
        order_id=order.order_id,
        supplier_id=supplier_id,
        buyer_id=order.buyer_id,
        currency=order.currency,
        principal=p.principal,
        fee=p.fee,
        term_days=p.term_days,
        daily_fee_rate=p.daily_fee_rate,
        apr=p.apr,
        expires_at=advance.expires_at,
        **_fx_fields(advance),
        payout_net=advance.payout_net,
        **platform_data,
    )
    return advance, [offered]


def _payout_fx(advance: Advance) -> FxConversion | None:
    """The disbursement's conversion, made again from the terms the offer recorded."""
    if advance.payout_currency is None or advance.locked_rate is None:
        return None
    fx = payout_conversion_of(
        advance.net,
        advance.currency,
        advance.payout_currency,
        advance.locked_rate,
        advance.fx_haircut_bps,
    )
    if fx.to_amount != advance.payout_net:
        raise ValueError(f"advance {advance.advance_id}: the payout no longer converts the same")
    return fx


def _fx_fields(advance: Advance) -> dict[str, object]:
    """The payout-currency figures of an advance's events (None for one currency)."""
    return {
        "payout_currency": advance.payout_currency,
        "payout_rate": None if advance.payout_rate is None else str(advance.payout_rate),
        "locked_rate": None if advance.locked_rate is None else str(advance.locked_rate),
        "fx_haircut_bps": advance.fx_haircut_bps,
    }


def accept(advance: Advance, now: datetime, actor: str) -> Step:
    """The supplier takes the offer: ask escrow for a lien of the full principal.

    An offer past its expiry is refused like any closed offer, whether or not the expiry
    timer has lapsed it yet (the timer does that; a refusal must not change state)."""
    advance.require(OFFERED, code="offer_not_open")
    if now >= advance.expires_at:
        raise AdvanceRuleViolated(
            "offer_not_open", f"the offer {advance.advance_id} expired at {advance.expires_at}"
        )
    accepted, events = advance.moved(ACCEPTED, actor)
    lien = LienRequested(
        order_id=advance.order_id,
        advance_id=advance.advance_id,
        amount=advance.principal,
        currency=advance.currency,
        supplier_id=advance.supplier_id,
    )
    return accepted, [*events, lien]


def expire(advance: Advance, now: datetime) -> Step:
    """The offer timer fired: an offer still open at its expiry lapses; otherwise nothing."""
    if advance.state != OFFERED or now < advance.expires_at:
        return advance, []
    return advance.moved(EXPIRED, SYSTEM, "offer_expired")


class LienAnswer(Enum):
    DISBURSE = "disburse"
    RELEASE = "release"  # a lien we no longer need: give it back
    IGNORE = "ignore"  # a duplicate of an answer already acted on


def on_lien_placed(advance: Advance) -> LienAnswer:
    if advance.state == ACCEPTED:
        return LienAnswer.DISBURSE
    if advance.state in (CANCELLED, EXPIRED, REJECTED):
        return LienAnswer.RELEASE
    return LienAnswer.IGNORE


def release_lien(advance: Advance, reason: str) -> LienReleaseRequested:
    return LienReleaseRequested(
        order_id=advance.order_id, advance_id=advance.advance_id, reason=reason
    )


def record_disbursement(advance: Advance, transfer_id: str | None, now: datetime) -> Step:
    advance.require(ACCEPTED)
    paid_out = replace(advance, disbursed_at=now, stripe_transfer_id=transfer_id)
    disbursed, events = paid_out.moved("disbursed", SYSTEM, "lien_placed")
    paid = AdvanceDisbursed(
        advance_id=advance.advance_id,
        order_id=advance.order_id,
        supplier_id=advance.supplier_id,
        currency=advance.currency,
        principal=advance.principal,
        fee=advance.fee,
        net_disbursed=advance.net,
        stripe_transfer_id=transfer_id,
        **_fx_fields(advance),
        payout_amount=advance.payout_net,
        payout_fx=_payout_fx(advance),
        metadata=dict(advance.metadata),
        external_reference=advance.external_reference,
    )
    return disbursed, [*events, paid]


def cancel(advance: Advance, reason: str, *, lien_placed: bool, actor: str = SYSTEM) -> Step:
    """Cancel an accepted advance before money moved; give a placed lien back. What a
    release already repaid on the lien is due back to the supplier (``unapplied``)."""
    if advance.state != ACCEPTED:
        return advance, []
    refunded = replace(
        advance,
        repaid_fee=0,
        repaid_principal=0,
        unapplied=advance.unapplied + advance.repaid_fee + advance.repaid_principal,
    )
    cancelled, events = refunded.moved(CANCELLED, actor, reason)
    if lien_placed:
        events.append(release_lien(advance, reason))
    return cancelled, events
