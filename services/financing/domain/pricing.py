"""Fee, APR, fee amortisation and the early-repayment rebate.

Written down once:
- the fee is flat: ``principal x daily_fee_rate x term_days``, rounded half-up to the minor
  unit (``shared.money.apply_rate``). It is deducted from the disbursement, so the supplier
  receives ``net = principal - fee`` and owes back ``principal``;
- the APR equivalent is the fee over the cash actually received, annualised over the term:
  ``fee / net x 365 / term_days``, rounded half-up to 1/100 of a basis point;
- the fee is earned straight-line per day: day ``d``'s share is the d-th part of a
  largest-remainder split of the fee into ``term_days`` equal weights, so the daily parts
  always sum to the fee;
- repaying early rebates the unearned fee: ``fee - earned_through(whole days elapsed)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from shared.money import allocate, apply_rate

DAYS_PER_YEAR = 365
APR_QUANTUM = Decimal("0.000001")  # 1/100 of a basis point


@dataclass(frozen=True)
class Price:
    principal: int
    fee: int
    net: int
    term_days: int
    daily_fee_rate: Decimal
    apr: Decimal  # a fraction: 0.188144 = 18.8144 %


def flat_fee(principal: int, daily_fee_rate: Decimal, term_days: int) -> int:
    if term_days < 1:
        raise ValueError("the term is at least one day")
    return apply_rate(principal, daily_fee_rate * term_days)


def apr(fee: int, net: int, term_days: int) -> Decimal:
    if net <= 0 or term_days < 1:
        raise ValueError("APR needs a positive net amount and term")
    value = Decimal(fee) / Decimal(net) * DAYS_PER_YEAR / term_days
    return value.quantize(APR_QUANTUM, rounding=ROUND_HALF_UP)


def price(principal: int, daily_fee_rate: Decimal, term_days: int) -> Price:
    fee = flat_fee(principal, daily_fee_rate, term_days)
    net = principal - fee
    return Price(principal, fee, net, term_days, daily_fee_rate, apr(fee, net, term_days))


def daily_amortisation(fee: int, term_days: int) -> list[int]:
    return allocate(fee, [1] * term_days)


def earned_through(fee: int, term_days: int, days_elapsed: int) -> int:
    """Fee earned after ``days_elapsed`` whole days (all of it once the term is over)."""
    if days_elapsed <= 0:
        return 0
    if days_elapsed >= term_days:
        return fee
    return sum(daily_amortisation(fee, term_days)[:days_elapsed])


def unearned_rebate(fee: int, term_days: int, days_elapsed: int) -> int:
    return fee - earned_through(fee, term_days, days_elapsed)
