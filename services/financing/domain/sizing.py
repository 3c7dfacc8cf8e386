"""Sizing an advance: the advance rate, the limits, the term and the price.

The most a supplier can get is the smallest of
- ``advance_rate x financeable`` (``OrderView.financeable``),
- the headroom under the supplier, buyer and supplier x buyer limits,
- the headroom under the concentration cap (see ``concentration_headroom``).
Exposure is the outstanding balance of the tenant's live advances in the policy currency,
counting accepted-but-not-yet-disbursed ones at their principal.
Every refusal lists machine-readable reasons, each naming the binding amount.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.financing.domain.fx import PayoutTerms, payout_terms
from services.financing.domain.orders import OrderView
from services.financing.domain.policy import Policy
from services.financing.domain.pricing import Price, flat_fee, price
from shared.fx import InvalidConversion
from shared.money import apply_rate


@dataclass(frozen=True)
class Exposure:
    supplier: int = 0
    buyer: int = 0
    pair: int = 0
    book: int = 0


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    available: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "available": self.available}


@dataclass(frozen=True)
class Offer:
    price: Price
    max_available: int
    expected_release_at: datetime
    payout: PayoutTerms | None = None  # the net in the payout currency (domain/fx.py)


@dataclass(frozen=True)
class Refusal:
    reasons: tuple[Reason, ...]


def concentration_headroom(policy: Policy, exposure: Exposure) -> int | None:
    """Largest x with (buyer + x) <= cap x (book + x), or book + x <= the minimum book.

    Solving for x with the cap in basis points: x <= (cap*book - 10000*buyer) / (10000 - cap),
    rounded down. A cap of 100 % never binds.
    """
    cap = policy.concentration_cap_bps
    if cap is None or cap >= 10_000:
        return None
    by_share = (cap * exposure.book - 10_000 * exposure.buyer) // (10_000 - cap)
    return max(0, by_share, policy.concentration_min_book - exposure.book)


def _headrooms(policy: Policy, exposure: Exposure) -> list[tuple[str, int]]:
    found = []
    for code, limit, used in (
        ("supplier_limit", policy.supplier_limit, exposure.supplier),
        ("buyer_limit", policy.buyer_limit, exposure.buyer),
        ("pair_limit", policy.pair_limit, exposure.pair),
    ):
        if limit is not None:
            found.append((code, max(0, limit - used)))
    concentration = concentration_headroom(policy, exposure)
    if concentration is not None:
        found.append(("concentration_cap", concentration))
    return found


def expected_release_at(order: OrderView, policy: Policy, principal: int) -> datetime:
    """When the releases, in schedule order, are expected to have repaid ``principal``."""
    covered = 0
    eligible = order.eligible_milestones()
    for m in eligible:
        covered += m.amount - order.platform_fee_on(m.amount)
        if covered >= principal or m is eligible[-1]:
            days = policy.days_by_kind.get(m.kind, max(policy.days_by_kind.values()))
            return order.created_at + timedelta(days=days, seconds=m.inspection_window_seconds)
    return order.created_at


def term_days(order: OrderView, policy: Policy, principal: int, now: datetime) -> int:
    seconds = (expected_release_at(order, policy, principal) - now).total_seconds()
    return max(1, math.ceil(seconds / 86_400))


def order_reasons(
    order: OrderView | None, supplier_id: str, has_live_advance: bool
) -> list[Reason]:
    if order is None:
        return [Reason("order_unknown", "no funded escrow is known for this order")]
    reasons = []
    if order.supplier_id != supplier_id:
        reasons.append(Reason("not_the_supplier", "the order belongs to another supplier"))
    if order.status != "open":
        reasons.append(Reason("order_closed", f"the order is {order.status}"))
    if order.funded_total < order.total:
        # escrow places a lien only on a fully funded escrow
        reasons.append(Reason("order_not_funded", "the escrow is not fully funded yet"))
    if has_live_advance:
        reasons.append(Reason("advance_exists", "the order already carries a live advance"))
    return reasons


FX_RATE_NOT_LOCKED = "fx_rate_not_locked"


def fx_reasons(order: OrderView) -> list[Reason]:
    """An order paid out in another currency needs the rate escrow locked at funding."""
    if order.cross_currency and order.locked_payout is None:
        return [
            Reason(
                FX_RATE_NOT_LOCKED,
                f"the order pays out in {order.pays_out_in} at a rate locked per milestone"
                f" at release: no locked {order.currency}->{order.pays_out_in} rate to size"
                " an advance at",
            )
        ]
    return []


def size(
    order: OrderView,
    policy: Policy,
    exposure: Exposure,
    now: datetime,
    requested: int | None = None,
) -> Offer | Refusal:
    """Offer ``requested`` (or the most available), or refuse with every binding reason."""
    by_rate = apply_rate(order.financeable(), policy.advance_rate_bps, bps=True)
    caps = [("advance_rate", by_rate), *_headrooms(policy, exposure)]
    available = min(amount for _, amount in caps)
    wanted = available if requested is None else requested
    reasons = [
        Reason(code, f"{code.replace('_', ' ')} leaves {amount} available", amount)
        for code, amount in caps
        if amount < max(wanted, policy.min_advance)
    ]
    if wanted < policy.min_advance:
        reasons.append(Reason("below_minimum", "below the minimum advance", policy.min_advance))
    if reasons:
        return Refusal(tuple(reasons))
    days = term_days(order, policy, wanted, now)
    if flat_fee(wanted, policy.daily_fee_rate, days) >= wanted:  # no APR without cash out
        return Refusal((Reason("fee_exceeds_advance", "the fee would eat the whole advance"),))
    quote = price(wanted, policy.daily_fee_rate, days)
    payout = None
    if order.cross_currency:
        lock = order.locked_payout
        if lock is None:
            return Refusal(tuple(fx_reasons(order)))
        try:
            payout = payout_terms(quote.net, order.currency, lock, policy.fx_haircut_bps)
        except InvalidConversion:  # the net at the rate is beyond the largest amount
            return Refusal((Reason("fx_amount_out_of_range",
                                   "the net at the locked rate is beyond the largest amount"),))  # fmt: skip
        if payout.net < 1:
            return Refusal((Reason("below_minimum", "nothing left to pay out after the rate"),))
    return Offer(quote, available, expected_release_at(order, policy, wanted), payout)


@dataclass(frozen=True)
class Headroom:
    """What can still be advanced on an order now, and what binds it: the same caps
    ``size`` takes the smallest of, read without quoting (nothing is recorded)."""

    financeable: int
    caps: tuple[tuple[str, int], ...]  # ("advance_rate", rate x financeable), then each limit
    available: int  # the most an offer would be now; 0 when ``reasons`` say none can be made
    binding: str | None  # the cap that sets ``available`` (None when none can be made)
    min_advance: int
    reasons: tuple[Reason, ...]  # why no advance can be offered now (empty: one can)


def headroom(
    order: OrderView, policy: Policy, exposure: Exposure, blocked: Sequence[Reason] = ()
) -> Headroom:
    """The caps of ``size`` and their smallest; ``blocked`` are the order's own reasons
    (``order_reasons``: another supplier's, closed, not funded, an advance already live),
    which make ``available`` 0 whatever the caps leave."""
    by_rate = apply_rate(order.financeable(), policy.advance_rate_bps, bps=True)
    caps = (("advance_rate", by_rate), *_headrooms(policy, exposure))
    binding, least = min(caps, key=lambda cap: cap[1])
    reasons = list(blocked)
    if not reasons and least < policy.min_advance:
        reasons.append(Reason("below_minimum", f"{binding.replace('_', ' ')} leaves {least} "
                              "available, below the minimum advance", policy.min_advance))  # fmt: skip
    if reasons:
        return Headroom(order.financeable(), caps, 0, None, policy.min_advance, tuple(reasons))
    return Headroom(order.financeable(), caps, least, binding, policy.min_advance, ())
