"""The period a person asks a report for: whole days, first and last included, as the
ledger's ``[from, to)`` in UTC (``to`` is the midnight after the last day). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

KINDS = {"income-statement": "Income statement", "balance-sheet": "Balance sheet"}
FORMATS = ("csv", "pdf")


class PeriodInvalid(ValueError):
    pass


@dataclass(frozen=True)
class DayPeriod:
    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(0), UTC)


def period_of(first: str | None, last: str | None, today: date) -> DayPeriod:
    """The days typed (YYYY-MM-DD); none typed: this month through today. A malformed
    date is refused here; the order of the two days is the ledger's to refuse
    (``invalid_period``), so the rule lives in one place."""
    try:
        first_day = date.fromisoformat(first) if first else today.replace(day=1)
        last_day = date.fromisoformat(last) if last else today
    except ValueError:
        raise PeriodInvalid("Dates are written YYYY-MM-DD.") from None
    return DayPeriod(first_day, last_day)


def currency_of(text: str | None) -> str:
    """An ISO 4217 code as typed (``usd`` → ``USD``); the ledger knows which it takes."""
    code = (text or "USD").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise PeriodInvalid("A currency is a three-letter ISO 4217 code, like USD.")
    return code
