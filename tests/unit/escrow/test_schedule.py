"""Milestone schedules in percentages: largest remainder, to the cent; never mixed."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow.domain.schedule import (
    InvalidPercentages,
    MixedSchedule,
    scheduled_amounts,
    split_by_percent,
)
from shared.money import MAX_AMOUNT


@st.composite
def percentages(draw: st.DrawFn) -> list[int]:
    """1 to 20 milestones, each at least 1 bp, summing to 10000."""
    n = draw(st.integers(1, 20))
    cuts = sorted(draw(st.sets(st.integers(1, 9_999), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 10_000]
    return [b - a for a, b in pairwise(bounds)]


@given(st.integers(1, MAX_AMOUNT), percentages())
def test_parts_sum_exactly_to_the_total_each_within_one_unit_of_its_share(
    total: int, bps: list[int]
) -> None:
    parts = split_by_percent(total, bps)
    assert sum(parts) == total and len(parts) == len(bps)
    for part, share in zip(parts, bps, strict=True):
        exact = Fraction(total * share, 10_000)
        assert abs(part - exact) < 1


def test_a_worked_split_gives_the_left_over_cent_to_the_largest_remainder() -> None:
    # 1,000,001 cents at 30/40/30: exact shares 300000.3, 400000.4, 300000.3
    assert split_by_percent(1_000_001, [3_000, 4_000, 3_000]) == [300_000, 400_001, 300_000]
    # 33.33, 33.33, 33.34: the cent left over goes to the largest remainder (the third)
    assert split_by_percent(100, [3_333, 3_333, 3_334]) == [33, 33, 34]
    # a tie in the remainder goes to the earlier milestone
    assert split_by_percent(1, [5_000, 5_000]) == [1, 0]


@pytest.mark.parametrize("bps", [[5_000, 4_999], [5_000, 5_001], [10_000, 0], [-1, 10_001]])
def test_percentages_must_be_positive_and_sum_to_10000(bps: list[int]) -> None:
    with pytest.raises(InvalidPercentages):
        split_by_percent(1_000, bps)


def test_a_schedule_is_all_amounts_or_all_percentages() -> None:
    assert scheduled_amounts(1_000, [300, 700], [None, None]) == [300, 700]
    assert scheduled_amounts(1_000, [None, None], [3_000, 7_000]) == [300, 700]
    with pytest.raises(MixedSchedule) as mixed:
        scheduled_amounts(1_000, [300, None], [None, 7_000])
    assert mixed.value.code == "mixed_milestone_schedule"
    with pytest.raises(MixedSchedule):
        scheduled_amounts(1_000, [300, 700], [3_000, None])
    with pytest.raises(InvalidPercentages):
        scheduled_amounts(1_000, [None, None], [None, None])
