"""shared/fx.py: conversions and their reversals never create or lose a minor unit."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shared.fx import (
    FxConversion,
    InvalidConversion,
    InvalidRate,
    allocate_part,
    allocated_payout,
    convert,
    customer_rate,
    funding_conversion,
    funding_share,
    parse_rate,
    payout_conversion,
    reversal_conversion,
)
from shared.money import EXPONENTS

currencies = st.sampled_from(["USD", "EUR", "CNY", "JPY", "KWD", "GBP", "KRW", "BHD"])
pairs = st.tuples(currencies, currencies).filter(lambda p: p[0] != p[1])
# Rates between 1e-4 and 1e4 with up to 8 places, as imported.
rates = st.builds(
    lambda n, places: Decimal(n).scaleb(-places),
    st.integers(min_value=1, max_value=10**8),
    st.integers(min_value=4, max_value=8),
)
amounts = st.integers(min_value=1, max_value=10**12)
markups = st.integers(min_value=0, max_value=500)


def test_parse_rate_takes_decimal_strings_only() -> None:
    assert parse_rate("1.0842") == Decimal("1.0842")
    assert parse_rate(" 7.1 ") == Decimal("7.1")
    for bad in [
        "0",
        "-1.2",
        "abc",
        "NaN",
        "Infinity",
        "1.0000000000001",
        "",
        "1e12",
        "1e3",
        "+1",
        "1.",
    ]:
        with pytest.raises(InvalidRate) as info:
            parse_rate(bad)
        assert info.value.code == "invalid_rate"
    with pytest.raises(InvalidRate):
        parse_rate(1.08)  # type: ignore[arg-type]


def test_convert_accounts_for_both_exponents() -> None:
    # 100.00 USD at 150.25 JPY per USD = 15025 JPY
    assert convert(10_000, "USD", "JPY", Decimal("150.25"), "down") == 15_025
    # 1000 JPY at 0.0066 USD per JPY = 6.60 USD
    assert convert(1_000, "JPY", "USD", Decimal("0.0066"), "half_even") == 660
    # 1.000 KWD at 3.25 USD per KWD = 3.25 USD
    assert convert(1_000, "KWD", "USD", Decimal("3.25"), "down") == 325
    assert convert(1, "USD", "EUR", Decimal("0.5"), "half_even") == 0  # half to even
    assert convert(3, "USD", "EUR", Decimal("0.5"), "half_even") == 2
    assert convert(1, "USD", "EUR", Decimal("0.5"), "up") == 1
    with pytest.raises(InvalidRate):
        convert(1, "USD", "EUR", 0.5, "down")  # type: ignore[arg-type]


def test_customer_rate_is_the_worse_side_rounded_down() -> None:
    assert customer_rate(Decimal("1.0842"), 0) == Decimal("1.0842")
    assert customer_rate(Decimal("1.0842"), 50) == Decimal("1.078779")
    assert customer_rate(Decimal("0.333333333333"), 1) == Decimal("0.333299999999")
    with pytest.raises(InvalidConversion):
        customer_rate(Decimal("1"), 10_000)


def test_a_worked_funding_eur_for_usd() -> None:
    fx = funding_conversion(
        100_000,
        from_currency="EUR",
        to_currency="USD",
        mid_rate=Decimal("1.0842"),
        markup_bps=50,
        quote_id="q",
    )
    # 1000.00 USD / 1.078779 = 926.97... EUR -> 926.98 (ceil)
    assert (fx.from_amount, fx.to_amount, fx.rate, fx.mid_rate) == (
        92_698,
        100_000,
        "1.078779",
        "1.0842",
    )
    assert fx.mid_amount == 100_503  # 926.98 * 1.0842 = 1005.0245... half-even
    assert fx.markup_amount == 503


@given(pairs, amounts, rates, markups)
def test_funding_credits_exactly_and_charges_the_least_that_covers(
    pair: tuple[str, str], to_amount: int, mid: Decimal, bps: int
) -> None:
    src, dst = pair
    try:
        fx = funding_conversion(
            to_amount, from_currency=src, to_currency=dst, mid_rate=mid, markup_bps=bps
        )
    except InvalidConversion:
        assume(False)
        raise
    rate = Fraction(fx.applied()) * Fraction(10) ** (EXPONENTS[dst] - EXPONENTS[src])
    assert fx.from_amount * rate >= to_amount > (fx.from_amount - 1) * rate
    assert fx.markup_amount == fx.mid_amount - fx.to_amount >= 0


@given(pairs, amounts, rates, markups)
def test_payout_never_pays_more_than_the_rate_gives(
    pair: tuple[str, str], from_amount: int, mid: Decimal, bps: int
) -> None:
    src, dst = pair
    try:
        fx = payout_conversion(
            from_amount, from_currency=src, to_currency=dst, mid_rate=mid, markup_bps=bps
        )
    except InvalidConversion:
        assume(False)
        raise
    rate = Fraction(fx.applied()) * Fraction(10) ** (EXPONENTS[dst] - EXPONENTS[src])
    assert fx.to_amount <= from_amount * rate < fx.to_amount + 1
    assert fx.markup_amount == fx.mid_amount - fx.to_amount >= 0


@given(
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=12),
)
def test_allocated_parts_never_exceed_and_the_last_takes_the_rest(
    contract: int, other: int, weights: list[int]
) -> None:
    assume(contract >= len(weights))
    # split the contract side into len(weights) positive parts
    total_w = sum(weights)
    parts = [max(1, contract * w // total_w) for w in weights]
    while sum(parts) > contract:
        parts[parts.index(max(parts))] -= 1
    parts[-1] += contract - sum(parts)
    assume(all(p > 0 for p in parts))
    done_c = done_o = 0
    for p in parts:
        share = allocate_part(
            p, contract_total=contract, other_total=other, contract_done=done_c, other_done=done_o
        )
        assert share >= 0
        if done_c + p < contract:
            assert share == other * p // contract
        done_c, done_o = done_c + p, done_o + share
        assert done_o <= other
    assert (done_c, done_o) == (contract, other)  # nothing created, nothing lost


@given(
    pairs,
    amounts,
    rates,
    markups,
    st.lists(st.integers(min_value=1, max_value=10**4), min_size=1, max_size=8),
)
def test_refunds_of_a_funding_return_exactly_what_was_paid(
    pair: tuple[str, str], to_amount: int, mid: Decimal, bps: int, weights: list[int]
) -> None:
    src, dst = pair
    try:
        fx = funding_conversion(
            to_amount, from_currency=src, to_currency=dst, mid_rate=mid, markup_bps=bps
        )
    except InvalidConversion:
        assume(False)
        raise
    assume(to_amount >= len(weights))
    parts = [max(1, to_amount * w // sum(weights)) for w in weights]
    while sum(parts) > to_amount:
        parts[parts.index(max(parts))] -= 1
    parts[-1] += to_amount - sum(parts)
    assume(all(p > 0 for p in parts))
    refunded = returned = 0
    for p in parts:
        back = reversal_conversion(fx, p, refunded_before=refunded, returned_before=returned)
        assert (back.from_currency, back.to_currency) == (dst, src)
        assert back.from_amount == p and back.markup_amount == back.mid_amount - back.to_amount
        refunded, returned = refunded + p, returned + back.to_amount
        assert returned <= fx.from_amount
    assert returned == fx.from_amount  # a full refund returns exactly what was charged


@given(
    pairs,
    amounts,
    rates,
    markups,
    st.lists(st.integers(min_value=1, max_value=10**4), min_size=1, max_size=8),
)
def test_shares_of_the_funding_side_take_the_contract_exactly_once(
    pair: tuple[str, str], to_amount: int, mid: Decimal, bps: int, weights: list[int]
) -> None:
    """Stripe gives back parts of the charge (dashboard refunds, chargebacks): each takes
    its share of the contract, never more than is left, the last takes the rest, and the
    reversal of a share gives back exactly its part."""
    src, dst = pair
    try:
        fx = funding_conversion(
            to_amount, from_currency=src, to_currency=dst, mid_rate=mid, markup_bps=bps
        )
    except InvalidConversion:
        assume(False)
        raise
    total = fx.from_amount
    assume(total >= len(weights))
    parts = [max(1, total * w // sum(weights)) for w in weights]
    while sum(parts) > total:
        parts[parts.index(max(parts))] -= 1
    parts[-1] += total - sum(parts)
    assume(all(p > 0 for p in parts))
    refunded = returned = 0
    for p in parts:
        try:
            share = funding_share(fx, p, refunded_before=refunded, returned_before=returned)
        except InvalidConversion:
            # Only when tiny parts rounded up took the whole contract before the charge
            # was given back whole (a break for finance, never an overdraw).
            assert refunded == fx.to_amount
            return
        assert (share.from_currency, share.to_currency) == (src, dst)
        assert share.from_amount == p and 1 <= share.to_amount <= fx.to_amount - refunded
        back = reversal_conversion(share, share.to_amount, refunded_before=0, returned_before=0)
        assert (back.to_currency, back.to_amount) == (src, p)
        refunded, returned = refunded + share.to_amount, returned + p
    assert (refunded, returned) == (fx.to_amount, fx.from_amount)
    with pytest.raises(InvalidConversion):
        funding_share(fx, 1, refunded_before=refunded, returned_before=returned)


@given(pairs, amounts, rates, markups)
def test_a_single_full_refund_reverses_the_funding(
    pair: tuple[str, str], to_amount: int, mid: Decimal, bps: int
) -> None:
    src, dst = pair
    try:
        fx = funding_conversion(
            to_amount, from_currency=src, to_currency=dst, mid_rate=mid, markup_bps=bps
        )
    except InvalidConversion:
        assume(False)
        raise
    back = reversal_conversion(fx, to_amount, refunded_before=0, returned_before=0)
    assert back.to_amount == fx.from_amount
    assert back.markup_amount <= 1  # the markup goes back (rounding aside)


def test_refunding_more_than_was_funded_is_refused() -> None:
    fx = funding_conversion(
        1_000, from_currency="EUR", to_currency="USD", mid_rate=Decimal("1.1"), markup_bps=0
    )
    with pytest.raises(InvalidConversion):
        reversal_conversion(fx, 1_001, refunded_before=0, returned_before=0)
    with pytest.raises(InvalidConversion):
        reversal_conversion(fx, 600, refunded_before=500, returned_before=0)


@given(pairs, amounts, rates, markups, st.integers(min_value=1, max_value=6))
def test_releases_under_a_locked_payout_take_the_whole_lock(
    pair: tuple[str, str], total: int, mid: Decimal, bps: int, n: int
) -> None:
    src, dst = pair
    assume(total >= n)
    try:
        lock = payout_conversion(
            total, from_currency=src, to_currency=dst, mid_rate=mid, markup_bps=bps
        )
    except InvalidConversion:
        assume(False)
        raise
    parts = [total // n] * (n - 1) + [total - total // n * (n - 1)]
    converted = paid = 0
    for p in parts:
        fx = allocated_payout(lock, p, converted_before=converted, paid_before=paid)
        assert fx.rate == lock.rate and fx.from_amount == p
        converted, paid = converted + p, paid + fx.to_amount
    assert paid == lock.to_amount


def test_a_conversion_beyond_the_largest_amount_is_refused() -> None:
    with pytest.raises(InvalidConversion):
        payout_conversion(
            10**15, from_currency="USD", to_currency="JPY", mid_rate=Decimal("150"), markup_bps=0
        )


def test_conversion_shape_is_strict() -> None:
    fx = payout_conversion(
        100, from_currency="USD", to_currency="CNY", mid_rate=Decimal("7.1"), markup_bps=0
    )
    assert FxConversion.model_validate(fx.model_dump(mode="json")) == fx
    with pytest.raises(ValueError):
        FxConversion.model_validate({**fx.model_dump(), "rate": 7.1})
    with pytest.raises(ValueError):
        FxConversion.model_validate({**fx.model_dump(), "extra": 1})


def test_a_customer_rate_below_the_plausible_range_is_an_invalid_rate() -> None:
    with pytest.raises(InvalidRate):
        customer_rate(Decimal("0.000000001"), 50)
    with pytest.raises(InvalidRate):
        funding_conversion(
            100, from_currency="EUR", to_currency="USD", mid_rate=Decimal("0.000000001"),
            markup_bps=50,
        )  # fmt: skip
