"""What the ledger's repositories answer: transactions, closes and breaks as stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.ledger.domain.journal import Line
from services.ledger.domain.staff import StaffLine


@dataclass(frozen=True, slots=True)
class PostingRecord:
    line: int
    account_id: int
    code: str
    subledger: str
    currency: str
    amount: int  # minor units, debit positive
    external_ref: str | None


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A journal transaction as stored, with its postings in line order."""

    id: UUID
    seq: int
    tenant_id: str
    posted_at: datetime
    original_date: datetime | None
    recorded_at: datetime
    source_event_id: UUID
    source_type: str
    kind: str
    actor: str | None
    reason: str | None
    memo: str
    reverses: UUID | None
    hash: str
    book_seq: int | None
    postings: tuple[PostingRecord, ...]

    def lines(self) -> list[Line]:
        return [
            Line(p.code, p.currency, p.amount, p.subledger, p.external_ref) for p in self.postings
        ]


@dataclass(frozen=True, slots=True)
class PeriodCloseRecord:
    tenant_id: str
    closed_through: datetime
    closed_by: str
    reason: str | None
    closed_at: datetime


@dataclass(frozen=True, slots=True)
class BreakRecord:
    id: int
    tenant_id: str
    kind: str
    object_id: str
    currency: str
    ledger_amount: int | None
    other_amount: int | None
    owner: str
    status: str
    first_seen_at: datetime
    last_seen_at: datetime
    first_run_id: int
    last_run_id: int
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None


# --- the break workflow (domain/breaks.py) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class CommentRecord:
    id: int
    break_id: int
    author: str  # the finance principal's actor
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    break_id: int
    assignee: str
    assigned_by: str
    assigned_at: datetime


@dataclass(frozen=True, slots=True)
class AdjustmentRequest:
    """The adjusting transaction a resolution asks for, as finance stated it."""

    memo: str
    lines: tuple[StaffLine, ...]


@dataclass(frozen=True, slots=True)
class StaffAdjustmentRecord:
    """A staff adjustment above the tenant's approval threshold: ``pending_approval`` until
    a finance user other than its maker approves it, then ``applied`` (posted)."""

    id: UUID
    tenant_id: str
    status: str  # pending_approval | applied
    reason: str
    memo: str
    posted_at: datetime | None  # the date asked for (None: the approval's)
    lines: tuple[StaffLine, ...]
    maker: str
    requested_at: datetime
    checker: str | None = None
    approved_at: datetime | None = None
    transaction_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class ResolutionRecord:
    break_id: int
    tenant_id: str
    status: str  # pending_approval | applied
    reason: str
    maker: str
    requested_at: datetime
    adjustment: AdjustmentRequest | None
    checker: str | None = None
    approved_at: datetime | None = None
    transaction_id: UUID | None = None
