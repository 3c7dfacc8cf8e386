"""The matching rules form: amounts typed in major units, exactly; days whole; a dry run's
period of days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.console.domain.rules import RulesInvalid, rules_of, window_of


def test_the_form_is_the_ledgers_body_in_minor_units() -> None:
    form = {"currency": " usd ", "amount_tolerance": "0.05", "date_window_days": "3",
            "approval_threshold": "1,500.00"}  # fmt: skip
    assert rules_of(form) == (
        "USD", {"amount_tolerance": 5, "approval_threshold": 150_000, "date_window_days": 3}
    )  # fmt: skip
    jpy = rules_of({"currency": "JPY", "amount_tolerance": "", "approval_threshold": "5000"})
    assert jpy == ("JPY", {"amount_tolerance": 0, "approval_threshold": 5_000,
                           "date_window_days": None})  # fmt: skip


@pytest.mark.parametrize("changes", [
    {"currency": "ABC"}, {"amount_tolerance": "0.001"}, {"amount_tolerance": "-1"},
    {"approval_threshold": "x"}, {"date_window_days": "1.5"}, {"date_window_days": "3651"},
    {"date_window_days": "\u00b2"}, {"currency": ""},
])  # fmt: skip
def test_what_the_ledger_would_refuse_is_refused_before_sending(changes: dict) -> None:
    with pytest.raises(RulesInvalid):
        rules_of({"currency": "USD", "amount_tolerance": "0", **changes})


def test_a_dry_runs_days_are_both_included() -> None:
    assert window_of("2026-06-01", "2026-06-02") == (
        datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC)
    )  # fmt: skip
    assert window_of("", None) == (None, None)
    with pytest.raises(RulesInvalid):
        window_of("2026-13-01", None)
