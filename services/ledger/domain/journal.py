"""Journal transactions as values: balanced drafts, built and checked before any I/O.

A ``Line`` is one posting: an account (code + sub-ledger), a currency and a signed amount in
minor units (debit > 0, credit < 0). A ``JournalDraft`` is >= 2 lines whose amounts sum to
zero per currency -- the rule the database checks again at commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from services.ledger.domain.chart import account
from shared.money import MAX_AMOUNT, check_currency  # no posting is larger (see shared.money)


class UnbalancedTransaction(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Line:
    code: str
    currency: str
    amount: int  # minor units, debit positive, credit negative
    subledger: str = ""
    external_ref: str | None = None  # Stripe object id on Stripe-clearing lines

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise UnbalancedTransaction(f"amount must be int minor units, got {self.amount!r}")
        if self.amount == 0:
            raise UnbalancedTransaction("a posting of zero says nothing; leave it out")
        if abs(self.amount) > MAX_AMOUNT:
            raise UnbalancedTransaction(f"{self.amount} is above the {MAX_AMOUNT} a posting may be")
        shape = (self.code, self.currency, self.subledger == "")
        if shape not in _VALID_SHAPES:  # a handful of shapes: check each once per process
            check_currency(self.currency)
            spec = account(self.code)
            if (spec.subledger is None) != (self.subledger == ""):
                raise UnbalancedTransaction(
                    f"{self.code} {'needs' if spec.subledger else 'takes no'} sub-ledger key"
                )
            _VALID_SHAPES.add(shape)


# (code, currency, sub-ledger empty?) combinations already found valid: the chart and the
# currency table are constants, so a shape that passed once always passes.
_VALID_SHAPES: set[tuple[str, str, bool]] = set()


def dr(code: str, currency: str, amount: int, sub: str = "", ref: str | None = None) -> Line:
    return Line(code, currency, amount, sub, ref)


def cr(code: str, currency: str, amount: int, sub: str = "", ref: str | None = None) -> Line:
    return Line(code, currency, -amount, sub, ref)


@dataclass(frozen=True, slots=True)
class JournalDraft:
    """A transaction to post. ``kind`` is "event", "adjustment" or "reversal"."""

    id: UUID
    tenant_id: str
    posted_at: datetime
    source_event_id: UUID
    source_type: str
    memo: str
    lines: tuple[Line, ...]
    kind: str = "event"
    actor: str | None = None
    reason: str | None = None
    reverses: UUID | None = None
    original_date: datetime | None = None  # set when a late event was moved out of a closed period
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_balanced(self.lines)
        if self.posted_at.tzinfo is None:
            raise ValueError("posted_at must be timezone-aware")

    def moved_to(self, open_from: datetime) -> JournalDraft:
        """This draft re-dated into the open period, keeping its own date as a reference."""
        return replace(self, posted_at=open_from, original_date=self.posted_at)


@dataclass(frozen=True, slots=True)
class Posted:
    """A draft as the journal holds it: its id and place, and whether it was there before."""

    id: UUID
    seq: int
    source_event_id: UUID
    posted_at: datetime
    duplicate: bool = False


def check_balanced(lines: Sequence[Line]) -> None:
    if len(lines) < 2:
        raise UnbalancedTransaction("a journal transaction needs at least two postings")
    currency, total = lines[0].currency, 0
    for line in lines:  # the usual case, one currency, without building a dict
        if line.currency != currency:
            break
        total += line.amount
    else:
        if total != 0:
            raise UnbalancedTransaction(f"debits and credits differ by {total} in {currency}")
        return
    for currency, total in totals(lines).items():
        if total != 0:
            raise UnbalancedTransaction(f"debits and credits differ by {total} in {currency}")


def totals(lines: Iterable[Line]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for line in lines:
        sums[line.currency] += line.amount
    return dict(sums)


def reversal_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    return tuple(replace(line, amount=-line.amount) for line in lines)
