"""API schemas of the break workflow: comments, assignment, resolutions, bulk resolution,
matching rules and the dry run. Amounts are integer minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from services.ledger.domain.breaks import MatchRules, ThresholdChange
from services.ledger.entrypoints.http.schemas import (
    AdjustmentLine,
    BreakPublic,
    IsoDateTime,
    TransactionPublic,
)
from services.ledger.service_layer.breaks import DryRun, Resolved, Workflow
from services.ledger.service_layer.records import (
    AdjustmentRequest,
    AssignmentRecord,
    BreakRecord,
    CommentRecord,
    ResolutionRecord,
)
from shared.events.types import NonNegativeMinorUnits, Text

Reason = Annotated[str, Field(min_length=3, max_length=500)]
LINES: list[JsonValue] = [
    {"account": "psp_fee_expense", "currency": "USD", "debit": 320},
    {"account": "stripe_clearing", "currency": "USD", "credit": 320, "external_ref": "ch_1"},
]


class CommentCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"body": "Asked Stripe support"}]})

    body: Annotated[str, Field(min_length=1, max_length=2_000)]


class CommentPublic(BaseModel):
    id: int
    break_id: int
    author: str = Field(description="the finance principal who wrote it (apikey:<name>)")
    body: str
    created_at: IsoDateTime

    @classmethod
    def of(cls, c: CommentRecord) -> CommentPublic:
        return cls(id=c.id, break_id=c.break_id, author=c.author, body=c.body,
                   created_at=c.created_at)  # fmt: skip


class AssigneeSet(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"assignee": "apikey:bob"}]})

    assignee: Text = Field(description="a finance user of the tenant: apikey:<key name>")


class AssignmentPublic(BaseModel):
    break_id: int
    assignee: str
    assigned_by: str
    assigned_at: IsoDateTime

    @classmethod
    def of(cls, a: AssignmentRecord) -> AssignmentPublic:
        return cls(break_id=a.break_id, assignee=a.assignee, assigned_by=a.assigned_by,
                   assigned_at=a.assigned_at)  # fmt: skip


class AdjustmentSpec(BaseModel):
    memo: Annotated[str, Field(max_length=2_000)] = ""
    lines: list[AdjustmentLine] = Field(min_length=2, max_length=500)

    def request(self) -> AdjustmentRequest:
        return AdjustmentRequest(self.memo, tuple(ln.staff_line() for ln in self.lines))


class ResolutionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"reason": "Stripe fee on ch_1 was never booked",
                 "adjustment": {"memo": "PSP fee", "lines": LINES}},
                {"reason": "timing difference, cleared next day"},
            ]
        }
    )  # fmt: skip

    reason: Reason
    adjustment: AdjustmentSpec | None = Field(
        None, description="where money must move: the adjusting transaction to post"
    )


class ResolutionPublic(BaseModel):
    break_id: int
    status: str = Field(description="pending_approval (waits for a checker) or applied")
    reason: str
    maker: str
    requested_at: IsoDateTime
    adjustment: AdjustmentSpec | None
    checker: str | None
    approved_at: IsoDateTime | None
    transaction_id: UUID | None = Field(description="the adjusting transaction, once posted")

    @classmethod
    def of(cls, r: ResolutionRecord) -> ResolutionPublic:
        adj = None
        if r.adjustment is not None:
            adj = AdjustmentSpec(memo=r.adjustment.memo, lines=[
                AdjustmentLine(account=ln.account, subledger=ln.subledger, currency=ln.currency,
                               debit=ln.debit, credit=ln.credit, external_ref=ln.external_ref)
                for ln in r.adjustment.lines
            ])  # fmt: skip
        return cls(
            break_id=r.break_id, status=r.status, reason=r.reason, maker=r.maker,
            requested_at=r.requested_at, adjustment=adj, checker=r.checker,
            approved_at=r.approved_at, transaction_id=r.transaction_id,
        )  # fmt: skip


class ResolvedPublic(BaseModel):
    resolution: ResolutionPublic
    break_: BreakPublic = Field(alias="break", serialization_alias="break")
    transaction: TransactionPublic | None

    @classmethod
    def of(cls, r: Resolved, now: datetime) -> ResolvedPublic:
        tx = TransactionPublic.of(r.transaction) if r.transaction else None
        return cls.model_validate({"resolution": ResolutionPublic.of(r.resolution),
                                   "break": BreakPublic.of(r.break_, now), "transaction": tx})  # fmt: skip


class WorkflowPublic(BaseModel):
    break_: BreakPublic = Field(alias="break", serialization_alias="break")
    assignment: AssignmentPublic | None
    comments: list[CommentPublic]
    resolution: ResolutionPublic | None

    @classmethod
    def of(cls, w: Workflow, now: datetime) -> WorkflowPublic:
        return cls.model_validate({
            "break": BreakPublic.of(w.break_, now),
            "assignment": AssignmentPublic.of(w.assignment) if w.assignment else None,
            "comments": [CommentPublic.of(c) for c in w.comments],
            "resolution": ResolutionPublic.of(w.resolution) if w.resolution else None,
        })  # fmt: skip


class BulkResolve(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"break_ids": [11, 12], "reason": "payout batch 2026-06"}]}
    )

    break_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=500)
    reason: Reason


class RulesSet(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"amount_tolerance": 5, "date_window_days": 3, "approval_threshold": 50_000}
            ]
        }
    )

    amount_tolerance: NonNegativeMinorUnits = Field(
        0, description="amounts this far apart (minor units) still match"
    )
    date_window_days: Annotated[int, Field(ge=0, le=3_650)] | None = Field(
        None, description="the latest ledger and Stripe dates at most this far apart; null: any"
    )
    approval_threshold: NonNegativeMinorUnits = Field(
        0,
        description="an adjustment debiting more than this needs a second finance user; a"
        " raise of it waits for a second finance user too (a lower one applies at once)",
    )


class PendingThresholdPublic(BaseModel):
    """A raise of the approval threshold asked by ``maker``, waiting for another finance
    user (``POST /v1/ledger/reconciliation/rules/{currency}/approve``)."""

    approval_threshold: int
    maker: str
    made_at: IsoDateTime

    @classmethod
    def of(cls, c: ThresholdChange) -> PendingThresholdPublic:
        return cls(approval_threshold=c.threshold, maker=c.maker, made_at=c.made_at)


class RulesPublic(RulesSet):
    """The rules in force (``approval_threshold``: the one in force) and, when a raise of
    the threshold waits for a second finance user, that raise."""

    currency: str
    pending_threshold: PendingThresholdPublic | None = Field(
        None, description="a raise of the threshold waiting for a second finance user"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"currency": "USD", "amount_tolerance": 5, "date_window_days": 3,
                 "approval_threshold": 10_000,
                 "pending_threshold": {"approval_threshold": 50_000, "maker": "apikey:alice",
                                       "made_at": "2026-06-30T12:00:00+00:00"}}
            ]
        }
    )  # fmt: skip

    @classmethod
    def of(cls, r: MatchRules, pending: ThresholdChange | None = None) -> RulesPublic:
        return cls(currency=r.currency, amount_tolerance=r.amount_tolerance,
                   date_window_days=r.date_window_days, approval_threshold=r.approval_threshold,
                   pending_threshold=PendingThresholdPublic.of(pending) if pending else None)  # fmt: skip


class BreakWouldOpen(BaseModel):
    """A break a run would open: it has no id, run or dates yet (the dry run wrote none)."""

    kind: str
    object_id: str
    currency: str
    ledger_amount: int | None
    other_amount: int | None
    owner: str

    @classmethod
    def of(cls, b: BreakRecord) -> BreakWouldOpen:
        return cls(
            kind=b.kind, object_id=b.object_id, currency=b.currency,
            ledger_amount=b.ledger_amount, other_amount=b.other_amount, owner=b.owner,
        )  # fmt: skip


class DryRunPublic(BaseModel):
    """What a run would find and do to the breaks; nothing was written."""

    stripe_rows: int
    counts: dict[str, int]
    opened: list[BreakWouldOpen]
    reopened: list[BreakPublic]
    changed: list[BreakPublic]
    cleared: list[BreakPublic]

    @classmethod
    def of(cls, d: DryRun, now: datetime) -> DryRunPublic:
        pub = lambda bs: [BreakPublic.of(b, now) for b in bs]  # noqa: E731
        return cls(stripe_rows=d.stripe_rows, counts=d.counts, opened=[BreakWouldOpen.of(b) for b in d.opened],
                   reopened=pub(d.reopened), changed=pub(d.changed), cleared=pub(d.cleared))  # fmt: skip
