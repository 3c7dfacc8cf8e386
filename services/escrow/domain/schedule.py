"""A milestone schedule given in percentages: each milestone's amount, to the cent.

A contract states its milestones either all in amounts (minor units summing to the total)
or all in percentages, as basis points (``percent_bps``, 3000 = 30 %) summing to exactly
10000. A schedule mixing the two is refused (``MixedSchedule``): which one would win when
they disagree is a question the platform must not leave to us.

Percentages become amounts by largest remainder (``shared.money.allocate``, the one rule for
every split): each milestone gets floor(total * bps / 10000), and the minor units left over
go one each to the milestones with the largest remainders, the earlier first on a tie. So
the amounts sum exactly to the total and each is within one minor unit of its exact share.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.escrow.domain.errors import EscrowError
from shared.money import allocate

WHOLE_BPS = 10_000


class MixedSchedule(EscrowError):
    code = "mixed_milestone_schedule"


class InvalidPercentages(EscrowError):
    code = "invalid_milestone_percentages"


def split_by_percent(total: int, percents_bps: Sequence[int]) -> list[int]:
    """The amounts of milestones of ``percents_bps`` of ``total`` (see the module's rule)."""
    if any(type(p) is not int or not 0 < p <= WHOLE_BPS for p in percents_bps):
        raise InvalidPercentages("each percent_bps is an integer from 1 to 10000")
    if sum(percents_bps) != WHOLE_BPS:
        raise InvalidPercentages(
            f"milestone percentages sum to {sum(percents_bps)} bps; they must sum to 10000"
        )
    return allocate(total, list(percents_bps))


def scheduled_amounts(
    total: int, amounts: Sequence[int | None], percents_bps: Sequence[int | None]
) -> list[int]:
    """Each milestone's amount, from a schedule all in amounts or all in percentages."""
    if not amounts:
        return []
    given_amounts = [a is not None for a in amounts]
    given_percents = [p is not None for p in percents_bps]
    if any(a and p for a, p in zip(given_amounts, given_percents, strict=True)):
        raise MixedSchedule("a milestone states an amount or a percent_bps, not both")
    if all(given_amounts):
        return [a for a in amounts if a is not None]
    if all(given_percents):
        return split_by_percent(total, [p for p in percents_bps if p is not None])
    if any(given_amounts) and any(given_percents):
        raise MixedSchedule("a schedule is all in amounts or all in percent_bps, not both")
    raise InvalidPercentages("each milestone states its amount or its percent_bps")
