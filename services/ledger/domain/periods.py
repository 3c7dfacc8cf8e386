"""Period close: a tenant's books are closed through a moment; nothing is dated before it.

Closes only move forward, and only over the past. Once closed, a period takes no staff
posting dated inside it (``ClosedPeriod``); an event that arrives late, dated inside it,
is moved to the start of the open period and keeps its own date as ``original_date``: the
event happened, and the closed books stay as they were reported.
"""

from __future__ import annotations

from datetime import datetime

from services.ledger.domain.journal import JournalDraft


class PeriodCloseRefused(ValueError):
    """The close asked for would reopen a closed period or close one not yet over."""


class ClosedPeriod(Exception):
    """A staff posting dated inside a closed period."""


def check_close(through: datetime, now: datetime, current: datetime | None) -> None:
    """Closing the books through ``through`` at ``now``, when closed through ``current``."""
    if through > now:
        raise PeriodCloseRefused("a period can only be closed once it is over")
    if current is not None and through <= current:
        raise PeriodCloseRefused(f"the books are already closed through {current.isoformat()}")


def into_open_period(draft: JournalDraft, closed_through: datetime) -> JournalDraft:
    """``draft``, dated before ``closed_through``, as the journal may take it: a late
    event re-dated to the open period's start; a staff posting refused."""
    if draft.kind != "event":
        raise ClosedPeriod(f"{draft.posted_at} is in a period closed through {closed_through}")
    return draft.moved_to(closed_through)
