"""Money invariants of an advance under any sequence of repayments, ticks and a payoff."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.financing.domain.pricing import earned_through, flat_fee, price, unearned_rebate
from services.financing.domain.servicing import amortize, apply_repayment, repay_early
from tests.unit.financing.builders import DAY, T0, disbursed_advance

rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.0030"), places=6)


@given(principal=st.integers(1_000, 10**11), rate=rates, days=st.integers(1, 365))
def test_price_parts_are_exact(principal: int, rate: Decimal, days: int) -> None:
    assume(flat_fee(principal, rate, days) < principal)  # sizing refuses the others
    p = price(principal, rate, days)
    assert p.fee + p.net == principal and p.fee >= 0
    for elapsed in (0, 1, days // 2, days, days + 3):
        assert earned_through(p.fee, days, elapsed) + unearned_rebate(p.fee, days, elapsed) == p.fee


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 20), st.integers(1, 3_000_000)), min_size=0, max_size=6
    ),
    payoff_day=st.one_of(st.none(), st.integers(0, 90)),
)
def test_balance_is_conserved_and_the_fee_fully_accounted(
    steps: list[tuple[int, int]], payoff_day: int | None
) -> None:
    a = disbursed_advance()
    day = 0
    received = 0
    for gap, amount in steps:
        day += gap
        a, _ = amortize(a, T0 + day * DAY)
        a, _ = apply_repayment(a, amount, T0 + day * DAY)
        received += amount
        assert a.balance >= 0 and a.fee_amortized <= a.fee
    if payoff_day is not None and a.state not in ("repaid",):
        a, _ = repay_early(a, T0 + (day + payoff_day) * DAY, "s", None)
    paid = a.repaid_fee + a.repaid_principal + a.repaid_early
    assert paid + a.fee_rebated + a.balance == a.principal
    assert received == a.repaid_fee + a.repaid_principal + a.unapplied
    assert a.repaid_fee <= a.fee
    if a.state == "repaid":
        assert a.balance == 0 and a.fee_amortized + a.fee_rebated == a.fee
