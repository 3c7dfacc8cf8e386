"""Fee and APR math, fee amortisation and rebate: worked examples."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.financing.domain.pricing import (
    apr,
    daily_amortisation,
    earned_through,
    flat_fee,
    price,
    unearned_rebate,
)
from shared.money import MoneyError


def test_flat_fee_is_principal_times_daily_rate_times_days() -> None:
    # USD 56,000.00 at 0.05 % a day for 60 days = 56,000.00 x 0.03 = 1,680.00
    assert flat_fee(5_600_000, Decimal("0.0005"), 60) == 168_000


def test_flat_fee_rounds_half_up_to_the_cent() -> None:
    # 1,000.01 x 0.0005 x 1 = 0.500005 -> 0.50; 1,001.00 x 0.0005 = 0.5005 -> 0.50 (50.05 cents)
    assert flat_fee(100_001, Decimal("0.0005"), 1) == 50
    assert flat_fee(100_100, Decimal("0.0005"), 1) == 50  # 50.05 cents
    assert flat_fee(100_100, Decimal("0.0005"), 3) == 150  # 150.15 cents
    assert flat_fee(1_000, Decimal("0.0005"), 1) == 1  # 0.5 cent rounds half up


def test_flat_fee_refuses_floats_and_empty_terms() -> None:
    with pytest.raises(MoneyError):
        flat_fee(100, 0.0005, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        flat_fee(100, Decimal("0.0005"), 0)


def test_apr_is_the_fee_over_the_cash_received_annualised() -> None:
    # fee 1,680.00 on net 54,320.00 for 60 days: 1680/54320 x 365/60 = 0.188144...
    p = price(5_600_000, Decimal("0.0005"), 60)
    assert (p.fee, p.net, p.term_days) == (168_000, 5_432_000, 60)
    assert p.apr == Decimal("0.188144")
    # the nominal rate would be 0.0005 x 365 = 18.25 %; the deduction up front costs more
    assert p.apr > Decimal("0.0005") * 365


def test_apr_of_a_free_advance_is_zero_and_needs_cash_out() -> None:
    assert apr(0, 1_000, 30) == Decimal("0")
    with pytest.raises(ValueError):
        apr(10, 0, 30)


def test_daily_amortisation_sums_to_the_fee_by_largest_remainder() -> None:
    assert daily_amortisation(100, 3) == [34, 33, 33]
    assert sum(daily_amortisation(168_000, 60)) == 168_000
    assert set(daily_amortisation(168_000, 60)) == {2_800}


def test_earned_and_rebated_fee_split_the_fee_exactly() -> None:
    assert earned_through(100, 3, 0) == 0
    assert earned_through(100, 3, 1) == 34
    assert earned_through(100, 3, 2) == 67
    assert earned_through(100, 3, 9) == 100
    # repaying a 60-day advance after 20 days: 40/60 of 1,680.00 is rebated
    assert unearned_rebate(168_000, 60, 20) == 112_000
    for days in range(0, 62):
        assert earned_through(1_001, 60, days) + unearned_rebate(1_001, 60, days) == 1_001
