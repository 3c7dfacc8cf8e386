"""Amounts with their currency's exponent and grouping; moments in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.console.domain.formatting import MINUS, amount, iso_utc, money, percent, utc_text


@pytest.mark.parametrize(
    ("minor", "currency", "shown", "plain"),
    [
        (1_234_567, "USD", "12,345.67", "12345.67"),
        (5, "USD", "0.05", "0.05"),
        (0, "EUR", "0.00", "0.00"),
        (1_234_567, "JPY", "1,234,567", "1234567"),
        (1_234_567, "KWD", "1,234.567", "1234.567"),
        (-350, "USD", f"{MINUS}3.50", "-3.50"),
        (10**15, "USD", "10,000,000,000,000.00", "10000000000000.00"),
    ],
)
def test_amounts_take_the_currency_exponent(
    minor: int, currency: str, shown: str, plain: str
) -> None:
    assert amount(minor, currency) == shown
    assert amount(minor, currency, grouping=False) == plain


def test_money_names_the_currency_first() -> None:
    assert money(12_500_000, "USD") == "USD 125,000.00"


@pytest.mark.parametrize("bad", [1.5, Decimal("1"), True, "100"])
def test_only_integer_minor_units_are_amounts(bad: object) -> None:
    with pytest.raises(TypeError):
        amount(bad, "USD")  # type: ignore[arg-type]


def test_an_unknown_currency_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError):
        amount(100, "XYZ")


def test_moments_are_shown_in_utc_whatever_offset_the_api_wrote() -> None:
    assert utc_text("2026-12-03T15:20:21+02:00") == "2026-12-03 13:20:21 UTC"
    assert iso_utc("2026-12-03T13:20:21.5Z") == "2026-12-03T13:20:21.500000Z"
    assert iso_utc(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"


def test_a_moment_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError):
        utc_text("2026-12-03T13:20:21")


def test_rates_as_percentages() -> None:
    assert percent("0.188144") == "18.81%"
