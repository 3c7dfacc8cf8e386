"""API schemas of the ledger, split by direction. Amounts are integer minor units."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_validator

from services.ledger.domain.recon import age_days
from services.ledger.domain.staff import StaffLine
from services.ledger.service_layer.records import (
    BreakRecord,
    PeriodCloseRecord,
    PostingRecord,
    StaffAdjustmentRecord,
    TransactionRecord,
)
from shared.events.types import CurrencyCode, NonNegativeMinorUnits, Text

Reason = Annotated[str, Field(min_length=3, max_length=500)]
# Written as Python's isoformat ("+00:00"), as these routes always wrote their datetimes.
IsoDateTime = Annotated[
    datetime,
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class AccountPublic(BaseModel):
    id: int | None
    code: str
    number: str
    name: str
    type: str
    currency: str | None
    subledger: str | None


class BalancePublic(BaseModel):
    account: AccountPublic
    as_of: datetime
    balance: int = Field(description="natural balance: positive on the account's normal side")
    debit_minus_credit: int


class PostingPublic(BaseModel):
    line: int
    account_id: int
    account: str
    subledger: str
    currency: str
    debit: int
    credit: int
    external_ref: str | None

    @classmethod
    def of(cls, p: PostingRecord) -> PostingPublic:
        return cls(
            line=p.line, account_id=p.account_id, account=p.code, subledger=p.subledger,
            currency=p.currency, debit=max(p.amount, 0), credit=max(-p.amount, 0),
            external_ref=p.external_ref,
        )  # fmt: skip


class TransactionPublic(BaseModel):
    id: UUID
    seq: int
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
    book_seq: int | None = Field(
        None, description="its place in its tenant's book (null: the chain from before books)"
    )
    postings: list[PostingPublic]

    @classmethod
    def of(cls, tx: TransactionRecord) -> TransactionPublic:
        fields = {k: getattr(tx, k) for k in cls.model_fields if k != "postings"}
        return cls(**fields, postings=[PostingPublic.of(p) for p in tx.postings])


class AdjustmentLine(BaseModel):
    account: Text
    subledger: Annotated[str, Field(max_length=500)] = ""
    currency: CurrencyCode
    debit: NonNegativeMinorUnits = 0
    credit: NonNegativeMinorUnits = 0
    external_ref: Text | None = None

    @model_validator(mode="after")
    def _one_side(self) -> AdjustmentLine:
        if (self.debit > 0) == (self.credit > 0):
            raise ValueError("each line has exactly one of debit or credit, above zero")
        return self

    def staff_line(self) -> StaffLine:
        return StaffLine(
            self.account, self.currency, self.debit, self.credit, self.subledger,
            self.external_ref,
        )  # fmt: skip


class AdjustmentCreate(BaseModel):
    reason: Reason
    memo: Annotated[str, Field(max_length=2_000)] = ""
    posted_at: datetime | None = None
    lines: list[AdjustmentLine] = Field(min_length=2, max_length=500)


class AdjustmentRequestPublic(BaseModel):
    """A staff adjustment above the approval threshold, waiting for a finance user other
    than its maker (``POST /v1/ledger/adjustment-requests/{id}/approve``)."""

    id: UUID
    status: Literal["pending_approval", "applied"]
    reason: str
    memo: str
    posted_at: IsoDateTime | None = Field(None, description="null: dated at its approval")
    lines: list[AdjustmentLine]
    maker: str
    requested_at: IsoDateTime
    checker: str | None = None
    approved_at: IsoDateTime | None = None
    transaction_id: UUID | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": "0190a5b0-7c1e-7a3e-9f00-5d2f0a8e6c1b", "status": "pending_approval",
                 "reason": "write off a disputed fee", "memo": "", "posted_at": None,
                 "lines": [{"account": "psp_fee_expense", "currency": "USD", "debit": 90_000},
                           {"account": "stripe_clearing", "currency": "USD",
                            "credit": 90_000}],
                 "maker": "apikey:alice", "requested_at": "2026-06-30T12:00:00+00:00"}
            ]
        }
    )  # fmt: skip

    @classmethod
    def of(cls, r: StaffAdjustmentRecord) -> AdjustmentRequestPublic:
        return cls(
            id=r.id, status=r.status, reason=r.reason, memo=r.memo,
            posted_at=r.posted_at, maker=r.maker, requested_at=r.requested_at,
            checker=r.checker, approved_at=r.approved_at, transaction_id=r.transaction_id,
            lines=[
                AdjustmentLine(account=ln.account, subledger=ln.subledger, currency=ln.currency,
                               debit=ln.debit, credit=ln.credit, external_ref=ln.external_ref)
                for ln in r.lines
            ],
        )  # fmt: skip


class ReversalCreate(BaseModel):
    reason: Reason


class StatementLinePublic(BaseModel):
    transaction_id: UUID
    line: int
    posted_at: datetime
    memo: str
    kind: str
    source_event_id: UUID
    external_ref: str | None
    debit: int
    credit: int
    balance: int


class StatementPublic(BaseModel):
    account: AccountPublic
    start: datetime | None
    end: datetime
    opening_balance: int
    closing_balance: int
    lines: list[StatementLinePublic]
    next_cursor: str | None


class TrialLinePublic(BaseModel):
    account: str
    number: str
    name: str
    type: str
    accounts: int
    debit: int
    credit: int


class TrialCurrencyPublic(BaseModel):
    currency: str
    lines: list[TrialLinePublic]
    total_debit: int
    total_credit: int
    difference: int = Field(description="total_debit - total_credit; zero when the books balance")


class TrialBalancePublic(BaseModel):
    as_of: datetime
    currencies: list[TrialCurrencyPublic]


class PeriodClose(BaseModel):
    through: datetime
    reason: Text | None = None


class PeriodClosePublic(BaseModel):
    tenant_id: str
    closed_through: IsoDateTime
    closed_by: str
    reason: str | None
    closed_at: IsoDateTime

    @classmethod
    def of(cls, close: PeriodCloseRecord) -> PeriodClosePublic:
        return cls(**asdict(close))


class PeriodClosed(BaseModel):
    closed_through: IsoDateTime
    closed_by: str


class ClearingBalancePublic(BaseModel):
    """Stripe clearing in the ledger against the Stripe balance, one currency, at the end of
    the run's window; ``difference`` = ledger - Stripe (0 when the books match)."""

    currency: str
    ledger_clearing: int
    stripe_balance: int
    difference: int


class RefusedLinePublic(BaseModel):
    """A balance transaction of the source the run did not take as the tenant's: never
    booked nor matched for it. ``no_tenant``: its metadata names no tenant;
    ``other_tenant``: it names another tenant, or another tenant's run recorded it."""

    balance_txn_id: str
    code: Literal["no_tenant", "other_tenant"]


class RunPublic(BaseModel):
    """A reconciliation run: the window it covered, Stripe lines read and booked, how many
    of each outcome it found, and Stripe clearing against the Stripe balance."""

    run_id: int
    window_from: IsoDateTime | None = None
    window_to: IsoDateTime | None = None
    stripe_rows: int
    booked: int = Field(0, description="balance transactions booked from Stripe by this run")
    matched: int
    missing_in_ledger: int
    missing_in_stripe: int
    amount_mismatch: int
    escrow_held_mismatch: int
    date_mismatch: int = 0
    ledger_disagrees: int = 0
    escrow_disagrees: int = 0
    stripe_disagrees: int = 0
    three_way_disagree: int = 0
    balances: list[ClearingBalancePublic] = Field(default_factory=list)
    refused: list[RefusedLinePublic] = Field(
        default_factory=list,
        description="lines in the window not attributable to the tenant (not booked, not"
        " matched), each with why",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": 42, "window_from": "2026-06-01T00:00:00+00:00",
                    "window_to": "2026-07-01T00:00:00+00:00", "stripe_rows": 4, "booked": 3,
                    "matched": 2, "missing_in_ledger": 0, "missing_in_stripe": 0,
                    "amount_mismatch": 0, "escrow_held_mismatch": 0,
                    "balances": [{"currency": "USD", "ledger_clearing": 9_410,
                                  "stripe_balance": 9_410, "difference": 0}],
                }
            ]
        }
    )  # fmt: skip


StripeAccountId = Annotated[
    str, Field(pattern=r"^acct_[A-Za-z0-9]{1,64}$", examples=["acct_1PgafTB7WZ01zgkW"])
]


class StripeAccountSet(BaseModel):
    """The tenant's own (connected) Stripe account, which its reconciliation runs read."""

    account_id: StripeAccountId

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"account_id": "acct_1PgafTB7WZ01zgkW"}]}
    )


class StripeAccountPublic(BaseModel):
    """``account_id`` null: runs read the platform account, by the tenant on each object."""

    account_id: str | None
    set_by: str | None = Field(None, description="who bound the account (the caller's key)")
    set_at: IsoDateTime | None = Field(None, description="when the account was bound")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"account_id": "acct_1PgafTB7WZ01zgkW", "set_by": "apikey:alice",
                 "set_at": "2026-06-01T09:00:00+00:00"}
            ]
        }
    )  # fmt: skip


class BreakPublic(BaseModel):
    id: int
    tenant_id: str
    kind: str
    object_id: str
    currency: str
    ledger_amount: int | None
    other_amount: int | None
    owner: str
    status: str
    first_seen_at: IsoDateTime
    last_seen_at: IsoDateTime
    first_run_id: int
    last_run_id: int
    resolved_by: str | None
    resolved_at: IsoDateTime | None
    resolution: str | None
    age_days: int

    @classmethod
    def of(cls, b: BreakRecord, now: datetime) -> BreakPublic:
        return cls(**asdict(b), age_days=age_days(b.first_seen_at, now))


class Resolve(BaseModel):
    resolution: Annotated[str, Field(min_length=3, max_length=500)]


class Assign(BaseModel):
    owner: Text
