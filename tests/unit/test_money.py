"""Money: integer minor units, ISO 4217 exponents, exact splits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import (
    EXPONENTS,
    MAX_AMOUNT,
    CurrencyMismatch,
    Money,
    MoneyError,
    UnknownCurrency,
    allocate,
    apply_rate,
)

currencies = st.sampled_from(sorted(EXPONENTS))
amounts = st.integers(min_value=-(10**15), max_value=10**15)
weights = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12).filter(
    lambda ws: sum(ws) > 0
)


@given(amounts, weights)
def test_allocation_parts_sum_exactly_to_the_whole(total: int, ws: list[int]) -> None:
    parts = allocate(total, ws)
    assert sum(parts) == total
    assert len(parts) == len(ws)


@given(st.integers(min_value=0, max_value=10**15), weights)
def test_allocation_parts_are_within_one_unit_of_the_exact_share(total: int, ws: list[int]) -> None:
    for part, w in zip(allocate(total, ws), ws, strict=True):
        exact = Decimal(total) * w / sum(ws)
        assert abs(Decimal(part) - exact) < 1
        if w == 0:
            assert part == 0


@given(currencies, currencies, amounts, amounts)
def test_mixing_currencies_raises(c1: str, c2: str, a: int, b: int) -> None:
    x, y = Money(a, c1), Money(b, c2)
    if c1 == c2:
        assert (x + y).amount == a + b
        return
    for op in (lambda: x + y, lambda: x - y, lambda: x < y, lambda: x >= y):
        with pytest.raises(CurrencyMismatch):
            op()


@given(st.floats(allow_nan=True, allow_infinity=True), currencies)
def test_floats_are_refused(value: float, currency: str) -> None:
    with pytest.raises(MoneyError):
        Money(value, currency)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [Decimal("1.00"), "100", True, None])
def test_non_integer_amounts_are_refused(bad: object) -> None:
    with pytest.raises(MoneyError):
        Money(bad, "USD")  # type: ignore[arg-type]


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrency):
        Money(1, "XXX")
    with pytest.raises(UnknownCurrency):
        Money(1, "usd")


def test_exponents_come_from_the_table() -> None:
    assert Money(123456, "USD").format() == "1234.56 USD"
    assert Money(123456, "JPY").format() == "123456 JPY"
    assert Money(123456, "KWD").format() == "123.456 KWD"


def test_parse_is_exact_and_refuses_extra_precision() -> None:
    assert Money.parse("1234.50", "USD") == Money(123450, "USD")
    assert Money.parse("7", "JPY") == Money(7, "JPY")
    with pytest.raises(MoneyError):
        Money.parse("1.005", "USD")
    with pytest.raises(MoneyError):
        Money.parse(1.5, "USD")  # type: ignore[arg-type]


def test_thirty_forty_thirty_schedule() -> None:
    assert Money(1_000_001, "USD").allocate([30, 40, 30]) == [
        Money(300_000, "USD"),
        Money(400_001, "USD"),
        Money(300_000, "USD"),
    ]


def test_equal_remainders_favour_the_earliest_part() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(-100, [1, 1, 1]) == [-34, -33, -33]


def test_rates_round_half_up_and_refuse_floats() -> None:
    assert apply_rate(1_000, 125, bps=True) == 13  # 12.5 -> 13
    assert apply_rate(1_000, Decimal("0.0124")) == 12
    with pytest.raises(MoneyError):
        apply_rate(1_000, 0.1)  # type: ignore[arg-type]


def test_allocation_refuses_bad_weights() -> None:
    for ws in ([], [0, 0], [1, -1]):
        with pytest.raises(MoneyError):
            allocate(10, ws)


@pytest.mark.parametrize("bad", ["abc", "", "Infinity", "NaN", "1e400", "1,000.00"])
def test_parse_refuses_what_is_not_an_amount(bad: str) -> None:
    with pytest.raises(MoneyError):
        Money.parse(bad, "USD")


def test_parse_refuses_amounts_beyond_the_bound() -> None:
    """A report line of 10**13 USD is 10**15 cents, the most any amount may be; one cent more
    would not fit what the services add up (and 10**17 USD overflowed bigint)."""
    assert Money.parse("10000000000000.00", "USD").amount == MAX_AMOUNT
    for beyond in ("10000000000000.01", "-10000000000000.01", "100000000000000000.00"):
        with pytest.raises(MoneyError):
            Money.parse(beyond, "USD")
