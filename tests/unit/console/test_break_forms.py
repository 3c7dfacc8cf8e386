"""What a break's forms carry: the adjusting transaction typed as one debit and one credit
(exact minor units, the currency's decimals), the ticked breaks, the bulk refusals; and the
period of a report as whole days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.console.domain.breaks import AdjustmentInvalid, adjustment_of, refusals, ticked
from services.console.domain.formatting import parse_amount
from services.console.domain.reports import PeriodInvalid, currency_of, period_of


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [("3.20", "USD", 320), ("1,234.56", "USD", 123_456), ("7", "USD", 700),
     ("1250", "JPY", 1250), ("1.234", "KWD", 1234), (" 0.01 ", "USD", 1)],
)  # fmt: skip
def test_amounts_typed_are_exact_minor_units(typed: str, currency: str, minor: int) -> None:
    assert parse_amount(typed, currency) == minor


@pytest.mark.parametrize("typed", ["3.205", "1.5e-3", "-3", "+3", "abc", "", "NaN", "Infinity"])
def test_amounts_that_are_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(typed, "USD")


def test_jpy_takes_no_decimals() -> None:
    with pytest.raises(ValueError):
        parse_amount("12.5", "JPY")


def test_an_adjustment_is_one_debit_and_one_credit() -> None:
    form = {"debit_account": "psp_fee_expense", "credit_account": "stripe_clearing",
            "amount": "3.20", "external_ref": "ch_1", "memo": " fee "}  # fmt: skip
    assert adjustment_of(form, "USD") == {
        "memo": "fee",
        "lines": [
            {"account": "psp_fee_expense", "currency": "USD", "debit": 320, "external_ref": "ch_1"},
            {
                "account": "stripe_clearing",
                "currency": "USD",
                "credit": 320,
                "external_ref": "ch_1",
            },
        ],
    }


def test_no_adjustment_when_its_fields_are_empty() -> None:
    assert adjustment_of({"reason": "timing", "memo": "ignored"}, "USD") is None


@pytest.mark.parametrize(
    "form",
    [{"debit_account": "bank", "amount": "1"},
     {"debit_account": "bank", "credit_account": "bank", "amount": "1"},
     {"debit_account": "bank", "credit_account": "suspense", "amount": "0"},
     {"debit_account": "bank", "credit_account": "suspense", "amount": "1.001"}],
)  # fmt: skip
def test_an_incomplete_or_wrong_adjustment_is_refused(form: dict[str, str]) -> None:
    with pytest.raises(AdjustmentInvalid):
        adjustment_of(form, "USD")


def test_ticked_breaks_in_form_order() -> None:
    form = {"csrf_token": "t", "break_12": "on", "reason": "r", "break_3": "on", "break_x": "on"}
    assert ticked(form) == [12, 3]


def test_refusals_read_only_per_break_details() -> None:
    details = [{"break_id": 3, "code": "break_resolved", "message": "resolved"}, "noise"]
    assert refusals(details) == [details[0]]
    assert refusals({"reasons": []}) == []


def test_a_period_is_whole_days_in_utc() -> None:
    p = period_of("2026-06-01", "2026-06-30", date(2026, 12, 3))
    assert (p.start, p.end) == (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


def test_no_period_typed_is_this_month_through_today() -> None:
    p = period_of(None, None, date(2026, 12, 3))
    assert (p.first_day, p.last_day) == (date(2026, 12, 1), date(2026, 12, 3))


def test_malformed_dates_and_currencies_are_refused() -> None:
    with pytest.raises(PeriodInvalid):
        period_of("30/06/2026", None, date(2026, 12, 3))
    with pytest.raises(PeriodInvalid):
        currency_of("US$")
    assert currency_of(" usd ") == "USD"
