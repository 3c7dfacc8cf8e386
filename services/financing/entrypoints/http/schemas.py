"""API schemas, split by direction. Money is integer minor units; rates are strings/bps."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.financing.domain.advance import OUTSTANDING, Advance
from services.financing.domain.fx import MAX_HAIRCUT_BPS
from services.financing.domain.policy import (
    MAX_DAYS,
    MAX_OFFER_TTL,
    Policy,
    PolicyError,
    days_by_kind_with,
)
from services.financing.domain.servicing import payoff_quote
from services.financing.domain.statement import Statement
from shared.events.escrow import MilestoneKind
from shared.events.types import CurrencyCode, NonNegativeMinorUnits, PositiveMinorUnits, Text
from shared.metadata import ExternalReference, MetadataInput


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("rates are decimal strings, never floats")
    return value


Rate = Annotated[Decimal, BeforeValidator(_no_float)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A supplier key bound to a party may omit supplier_id (its party) or must name its own.
SupplierId = Annotated[
    Text | None, Field(description="required unless the API key is bound to the supplier")
]
Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]


class QuoteCreate(_In):
    order_id: Text
    supplier_id: SupplierId = None
    amount: PositiveMinorUnits | None = Field(None, description="omit for the most available")
    metadata: MetadataInput | None = None
    external_reference: ExternalReference | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "order_id": "ord_01J9",
                    "amount": 500_000,
                    "metadata": {"loan_book": "2026-Q4"},
                    "external_reference": "ADV-0042",
                }
            ]
        },
    )


class AdvanceUpdate(_In):
    """The platform's own data on an advance; nothing else about it changes here."""

    supplier_id: SupplierId = None
    metadata: MetadataInput | None = Field(
        None, description='merged into the advance\'s: keys given are set, a key set to "" removed'
    )
    external_reference: ExternalReference | None = Field(
        None, description="set it; null removes it; absent leaves it"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"metadata": {"loan_book": "2027-Q1", "desk": ""}, "external_reference": "ADV-7"}
            ]
        },
    )


class SupplierAction(_In):
    supplier_id: SupplierId = None


class EarlyRepayment(SupplierAction):
    payment_reference: Text | None = None


class FinanceAction(_In):
    reason: Text


class RecoveryCreate(_In):
    amount: PositiveMinorUnits
    payment_reference: Text | None = None


class PolicyUpdate(_In):
    advance_rate_bps: int = Field(8_000, ge=1, le=10_000)
    daily_fee_rate: Rate = Field(Decimal("0.0005"), description='a decimal string, e.g. "0.0005"')
    supplier_limit: NonNegativeMinorUnits | None = None
    buyer_limit: NonNegativeMinorUnits | None = None
    pair_limit: NonNegativeMinorUnits | None = None
    concentration_cap_bps: int | None = Field(None, ge=1, le=10_000)
    concentration_min_book: NonNegativeMinorUnits = 0
    min_advance: PositiveMinorUnits = 1
    offer_ttl_seconds: int = Field(86_400, gt=0, le=int(MAX_OFFER_TTL.total_seconds()))
    days_by_kind: dict[MilestoneKind, Days] | None = None
    fx_haircut_bps: int = Field(
        0,
        ge=0,
        le=MAX_HAIRCUT_BPS,
        description="off the locked payout rate, for an advance paid out in another currency",
    )

    def policy(self, currency: str) -> Policy:
        """The policy this asks for (``PolicyError`` if the domain refuses it)."""
        fields = self.model_dump(exclude={"offer_ttl_seconds", "days_by_kind"})
        overrides = {str(k): d for k, d in (self.days_by_kind or {}).items()}
        try:
            return Policy(
                currency=currency,
                offer_ttl=timedelta(seconds=self.offer_ttl_seconds),
                days_by_kind=days_by_kind_with(overrides),
                **fields,
            )
        except PolicyError:
            raise
        except ValueError as exc:
            raise PolicyError(str(exc)) from exc


class PolicyPublic(PolicyUpdate):
    currency: CurrencyCode

    @classmethod
    def of(cls, p: Policy) -> PolicyPublic:
        fields = {k: getattr(p, k) for k in PolicyUpdate.model_fields if hasattr(p, k)}
        return cls(
            currency=p.currency, offer_ttl_seconds=int(p.offer_ttl.total_seconds()), **fields
        )


class Payoff(BaseModel):
    amount: int
    fee_rebate: int


class PayoutPublic(BaseModel):
    """The advance paid out in another currency than the contract's: the net in the payout
    currency, converted at ``rate`` = ``locked_rate`` less ``fx_haircut_bps``."""

    currency: str
    net: int = Field(description="what the Stripe transfer pays, in payout minor units")
    rate: str = Field(description="payout units per one contract unit (major), decimal string")
    locked_rate: str = Field(description="the order's locked payout rate (escrow.funded)")
    fx_haircut_bps: int

    @classmethod
    def of(cls, a: Advance) -> PayoutPublic | None:
        if a.payout_currency is None or a.payout_net is None:
            return None
        return cls(
            currency=a.payout_currency,
            net=a.payout_net,
            rate=str(a.payout_rate),
            locked_rate=str(a.locked_rate),
            fx_haircut_bps=a.fx_haircut_bps,
        )


class AdvancePublic(BaseModel):
    advance_id: str
    order_id: str
    supplier_id: str
    buyer_id: str
    state: str
    currency: str
    principal: int
    fee: int
    net: int
    term_days: int
    daily_fee_rate: Decimal
    apr: Decimal
    created_at: datetime = Field(description="when the advance was quoted")
    expected_repayment_at: datetime = Field(
        description="created_at + term_days: when the releases are expected to have repaid "
        "the principal, to the whole day the fee is charged for"
    )
    expires_at: datetime
    reasons: list[str]
    disbursed_at: datetime | None
    stripe_transfer_id: str | None
    balance: int
    fee_due: int
    fee_earned: int
    repaid: int
    recourse: int
    written_off: int
    recovered: int
    unapplied: int  # repaid beyond what was owed: due back to the supplier
    payoff_now: Payoff | None
    payout: PayoutPublic | None = Field(
        None,
        description="paid out in another currency than `currency` (principal, fee, net and "
        "repayments stay in `currency`); null when paid in `currency`",
    )
    metadata: dict[str, str]
    external_reference: str | None

    @classmethod
    def of(cls, a: Advance, now: datetime) -> AdvancePublic:
        payoff = None
        if a.state in OUTSTANDING:
            amount, rebate = payoff_quote(a, now)
            payoff = Payoff(amount=amount, fee_rebate=rebate)
        return cls(
            **{
                k: getattr(a, k)
                for k in cls.model_fields
                if hasattr(a, k) and k not in ("reasons", "payout")
            },
            reasons=list(a.reasons),
            expected_repayment_at=a.created_at + timedelta(days=a.term_days),
            fee_earned=a.fee_amortized,
            repaid=a.repaid_fee + a.repaid_principal + a.repaid_early,
            payoff_now=payoff,
            payout=PayoutPublic.of(a),
        )


class LinePublic(BaseModel):
    at: datetime
    kind: str
    amount: int
    balance_after: int
    detail: dict[str, Any]


class StatementPublic(BaseModel):
    advance_id: str
    currency: str
    balance: int
    totals: dict[str, int]
    lines: list[LinePublic]

    @classmethod
    def of(cls, s: Statement) -> StatementPublic:
        return cls(
            advance_id=s.advance_id,
            currency=s.currency,
            balance=s.balance,
            totals=s.totals,
            lines=[LinePublic(**vars(line)) for line in s.lines],
        )


class CapPublic(BaseModel):
    code: str = Field(
        description="advance_rate, supplier_limit, buyer_limit, pair_limit or concentration_cap"
    )
    available: int = Field(description="what this cap alone leaves, minor units")


class BlockingReason(BaseModel):
    code: str
    message: str
    available: int | None = None


class HeadroomPublic(BaseModel):
    """What can still be advanced on an order now: the caps an offer is the smallest of,
    and why none can be made if none can. Read only: no offer is made or recorded; the
    limits are checked again at acceptance."""

    object: str = "financing_headroom"
    order_id: str
    supplier_id: str
    currency: str
    financeable: int = Field(description="funded, unreleased, undisputed, net of platform fee")
    available: int = Field(description="the most an offer would be now (0: none can be made)")
    binding: str | None = Field(description="the cap that sets `available`")
    min_advance: int
    caps: list[CapPublic]
    reasons: list[BlockingReason] = Field(description="why no advance can be offered now")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "financing_headroom", "order_id": "ord_01J9",
                    "supplier_id": "supplier-shenzhen", "currency": "USD",
                    "financeable": 3_960_000, "available": 2_000_000, "binding": "supplier_limit",
                    "min_advance": 0,
                    "caps": [{"code": "advance_rate", "available": 3_168_000},
                             {"code": "supplier_limit", "available": 2_000_000}],
                    "reasons": [],
                }
            ]
        }
    )  # fmt: skip
