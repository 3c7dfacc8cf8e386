"""Trends from trial balances at month ends: the ends, and each month's figures."""

from __future__ import annotations

from datetime import UTC, datetime

from services.console.domain.trends import month_ends, months


def test_month_ends_cross_the_year_and_end_now() -> None:
    now = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    ends = month_ends(now, 3)
    assert ends == [
        datetime(2025, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        now,
    ]


def tb(escrow: int, fees: int, financing: int) -> dict:
    lines = [
        {"account": "escrow_held", "debit": 0, "credit": escrow},
        {"account": "platform_fee_revenue", "debit": 0, "credit": fees},
        {"account": "fee_income", "debit": 0, "credit": financing},
    ]
    return {"currencies": [{"currency": "USD", "lines": lines}]}


def test_income_is_what_the_month_added_and_escrow_is_the_balance_at_its_end() -> None:
    now = datetime(2026, 2, 10, tzinfo=UTC)
    ends = month_ends(now, 2)
    rows = months(ends, [tb(0, 0, 0), tb(5_000, 250, 0), tb(3_000, 400, 120)], "USD")
    assert [(m.label, m.escrow_held, m.fee_revenue, m.financing_income) for m in rows] == [
        ("2026-01", 5_000, 250, 0),
        ("2026-02", 3_000, 150, 120),
    ]


def test_a_currency_without_books_is_zero() -> None:
    ends = month_ends(datetime(2026, 2, 10, tzinfo=UTC), 1)
    [row] = months(ends, [tb(1, 1, 1), tb(2, 2, 2)], "EUR")
    assert (row.escrow_held, row.fee_revenue, row.financing_income) == (0, 0, 0)
