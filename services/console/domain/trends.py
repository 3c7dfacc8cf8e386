"""Finance's trends, from trial balances at month ends. Pure.

Escrow held is the balance of the ``escrow_held`` account at each month's end; platform fee
revenue and financing fee income per month are the growth of their (credit-normal, never
closed out) balances over the month. So one trial balance per month end, read through the
ledger's API, gives all three series; nothing is computed that the books do not say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ESCROW_HELD, FEE_REVENUE, FINANCING_INCOME = "escrow_held", "platform_fee_revenue", "fee_income"


@dataclass(frozen=True)
class Month:
    label: str  # "2026-11"
    end: datetime  # the last moment of the month (or now, for the month under way)
    escrow_held: int
    fee_revenue: int  # earned during the month
    financing_income: int


def month_ends(now: datetime, months: int) -> list[datetime]:
    """The ends of the ``months`` months up to now (the current one ends now), oldest first,
    preceded by the end of the month before them (the opening balances)."""
    ends = [now]
    first = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(months):
        ends.append(first - timedelta(microseconds=1))
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(ends))


def credit_balance(tb: dict[str, Any], currency: str, code: str) -> int:
    for cur in tb["currencies"]:
        if cur["currency"] == currency:
            for line in cur["lines"]:
                if line["account"] == code:
                    return int(line["credit"]) - int(line["debit"])
    return 0


def currencies(tb: dict[str, Any]) -> list[str]:
    return [c["currency"] for c in tb["currencies"]]


def months(
    ends: Sequence[datetime], balances: Sequence[dict[str, Any]], currency: str
) -> list[Month]:
    """One ``Month`` per end after the first, from the trial balances as of each end."""
    rows = []
    for i in range(1, len(ends)):
        before, after = balances[i - 1], balances[i]

        def grew(code: str, a: dict[str, Any] = after, b: dict[str, Any] = before) -> int:
            return credit_balance(a, currency, code) - credit_balance(b, currency, code)

        rows.append(
            Month(
                label=f"{ends[i]:%Y-%m}",
                end=ends[i],
                escrow_held=credit_balance(after, currency, ESCROW_HELD),
                fee_revenue=grew(FEE_REVENUE),
                financing_income=grew(FINANCING_INCOME),
            )
        )
    return rows
