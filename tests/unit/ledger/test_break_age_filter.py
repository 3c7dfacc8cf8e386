"""The break list's age filter: whole days since first seen, both ends included, as the
``age_days`` each break is shown with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.ledger.domain.recon import InvalidAgeRange, age_days, first_seen_bounds

NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)


def kept(first_seen: datetime, low: int | None, high: int | None) -> bool:
    at_most, after = first_seen_bounds(NOW, low, high)
    return (at_most is None or first_seen <= at_most) and (after is None or first_seen > after)


@pytest.mark.parametrize("low,high", [(None, None), (0, 0), (1, 7), (8, 30), (31, None),
                                      (None, 3), (2, 2)])  # fmt: skip
def test_a_break_is_kept_exactly_when_its_age_days_is_in_range(
    low: int | None, high: int | None
) -> None:
    for minutes in range(0, 40 * 24 * 60, 97):  # every ~1.6 hours over 40 days, and edges
        for seen in (NOW - timedelta(minutes=minutes), NOW - timedelta(days=minutes // 1440)):
            age = age_days(seen, NOW)
            expected = (low is None or age >= low) and (high is None or age <= high)
            assert kept(seen, low, high) == expected, (seen, age, low, high)


def test_a_maximum_below_the_minimum_is_refused() -> None:
    with pytest.raises(InvalidAgeRange):
        first_seen_bounds(NOW, 5, 4)
