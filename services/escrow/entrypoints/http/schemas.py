"""Request and response bodies of the escrow API. Money is integer minor units, never a float."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from services.escrow.domain.model import (
    Dispute,
    Escrow,
    Lien,
    Milestone,
    OrderStatus,
    Payment,
    Payout,
    Refund,
)
from services.escrow.domain.records import RefundProposal
from shared.events.escrow import DisputeOutcome, EvidenceKind, MilestoneKind
from shared.events.types import CurrencyCode, NonNegativeMinorUnits, PositiveMinorUnits, Text
from shared.fx import FxConversion
from shared.metadata import ExternalReference, MetadataInput

DEFAULT_WINDOW = 3 * 86_400


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MilestoneCreate(In):
    """A milestone's share of the total: its ``amount``, or its ``percent_bps`` (basis points
    of the total, the schedule's summing to 10000, split to the cent by largest remainder).
    One schedule is all amounts or all percentages (else 400 ``mixed_milestone_schedule``)."""

    name: Text
    amount: PositiveMinorUnits | None = None
    percent_bps: Annotated[StrictInt, Field(ge=1, le=10_000, examples=[3_000])] | None = None
    kind: MilestoneKind
    inspection_window_seconds: Annotated[int, Field(ge=0, le=90 * 86_400)] = DEFAULT_WINDOW
    evidence_required: list[EvidenceKind] | None = None


class OrderCreate(In):
    buyer_id: Text
    supplier_id: Text
    supplier_account_id: Annotated[str, Field(pattern=r"^acct_[A-Za-z0-9]+$", max_length=255)]
    currency: CurrencyCode
    total: PositiveMinorUnits
    milestones: Annotated[list[MilestoneCreate], Field(min_length=1, max_length=50)]
    metadata: MetadataInput | None = None
    external_reference: ExternalReference | None = None
    funding_currency: CurrencyCode | None = Field(
        None, description="what the buyer pays in (default: currency); needs a quote to fund"
    )
    payout_currency: CurrencyCode | None = Field(
        None, description="what the supplier is paid in (default: currency)"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "buyer_id": "buyer_acme",
                    "supplier_id": "sup_shenzhen_01",
                    "supplier_account_id": "acct_1Example",
                    "currency": "USD",
                    "total": 1_000_001,
                    "milestones": [
                        {"name": "deposit", "percent_bps": 3_000, "kind": "contract"},
                        {"name": "shipment", "percent_bps": 4_000, "kind": "shipment"},
                        {"name": "delivery", "percent_bps": 3_000, "kind": "inspection"},
                    ],
                    "metadata": {"erp_order": "PO-2291"},
                    "external_reference": "PO-2026-0042",
                }
            ]
        },
    )


class OrderUpdate(In):
    """The platform's own data on an order; every other term of the contract is fixed."""

    metadata: MetadataInput | None = Field(
        None, description='merged into the order\'s: keys given are set, a key set to "" removed'
    )
    external_reference: ExternalReference | None = Field(
        None, description="set it; null removes it; absent leaves it"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"metadata": {"erp_order": "PO-2291-B", "region": ""}, "external_reference": "PO-7"}
            ]
        },
    )


class FundRequest(In):
    amount: PositiveMinorUnits | None = None  # default: everything not funded yet
    quote_id: Text | None = Field(
        None,
        description="a funding quote (funding currency -> contract currency) crediting "
        "exactly `amount`: required when the order's funding currency is another",
    )
    payout_quote_id: Text | None = Field(
        None,
        description='"order" policy, payout currency another: a payout quote of the total '
        "to lock (default: the rate in force with the tenant's markup)",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": 1_000_000, "quote_id": "0193a1b2-quote"}]},
    )


class WireConfirmation(In):
    amount: PositiveMinorUnits
    reference: Text
    currency: CurrencyCode | None = Field(
        None, description="the wire's currency: the contract currency only"
    )


class ReleaseRequest(In):
    quote_id: Text | None = Field(
        None,
        description='"milestone" policy: a payout quote of the release\'s supplier_net '
        "(default: the rate in force)",
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"quote_id": "0193a1b2-quote"}]}
    )


class ShipmentEvidence(In):
    kind: Literal["shipment"]
    document: Literal["bill_of_lading", "air_waybill"]
    number: Text
    carrier: Text
    tracking: Text | None = None


class CustomsEvidence(In):
    kind: Literal["customs_clearance"]
    declaration_number: Text
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    cleared_at: datetime | None = None


class DeliveryEvidence(In):
    kind: Literal["delivery"]
    delivered_at: datetime
    received_by: Text
    location: Text | None = None


class InspectionEvidence(In):
    kind: Literal["inspection"]
    inspector: Text
    report_id: Text
    passed: bool
    notes: Text | None = None


class BuyerAcceptanceEvidence(In):
    kind: Literal["buyer_acceptance"]
    accepted_by: Text
    note: Text | None = None


EvidenceIn = Annotated[
    ShipmentEvidence
    | CustomsEvidence
    | DeliveryEvidence
    | InspectionEvidence
    | BuyerAcceptanceEvidence,
    Field(discriminator="kind"),
]


class EvidenceSubmission(In):
    evidence: EvidenceIn


class DisputeCreate(In):
    reason: Text
    evidence: Annotated[list[Text], Field(max_length=50)] = []


class DisputeResolution(In):
    outcome: DisputeOutcome
    release_amount: NonNegativeMinorUnits | None = None  # required for a split


class CancelRequest(In):
    reason: Text


class FeePolicy(In):
    basis_points: Annotated[int, Field(ge=0, le=10_000)]
    fixed_fees: dict[CurrencyCode, NonNegativeMinorUnits] = {}


class FundingStarted(BaseModel):
    order_id: str
    payment_id: str
    amount: int = Field(description="what the PaymentIntent charges, in `currency`")
    currency: str = Field(description="the PaymentIntent's currency (the funding currency)")
    stripe_payment_intent_id: str
    client_secret: str
    credits: int = Field(0, description="the contract amount this payment credits")
    fx: FxConversion | None = None
    payout_lock: FxConversion | None = None


class OrderPublic(BaseModel):
    """An order's escrow as the API shows it: the aggregate, then its derived balances."""

    order_id: str
    tenant_id: str
    buyer_id: str
    supplier_id: str
    supplier_account_id: str
    currency: str
    total: int
    platform_fee_bps: int
    platform_fee_fixed: int
    milestones: tuple[Milestone, ...]
    created_at: datetime
    status: OrderStatus
    funded: int
    released: int
    refunded: int
    payments: tuple[Payment, ...]
    disputes: tuple[Dispute, ...]
    lien: Lien | None
    released_advances: tuple[str, ...]
    payouts: tuple[Payout, ...]
    refunds: tuple[Refund, ...]
    metadata: dict[str, str]
    external_reference: str | None
    refund_proposals: tuple[RefundProposal, ...] = ()
    funding_currency: str
    payout_currency: str
    fx_policy: Literal["order", "milestone"]
    payout_lock: FxConversion | None = None
    version: int
    held: int = Field(description="funded - released - refunded")
    available: int = Field(description="held - reserved - frozen: what a release may use")
    frozen: int = Field(description="open disputes")
    reserved: int = Field(description="payouts and refunds in flight")

    @classmethod
    def of(cls, e: Escrow) -> OrderPublic:
        derived: dict[str, object] = {"held": e.held, "available": e.available}
        derived |= {"frozen": e.frozen}
        derived |= {"funding_currency": e.funding_ccy, "payout_currency": e.payout_ccy}
        return cls.model_validate({**dict(e), **derived, "reserved": e.reserved})


class TimelineEntry(BaseModel):
    object: Literal["order_event"] = "order_event"
    id: str = Field(description="the event's id: a page's `starting_after`")
    seq: int
    event_id: str
    type: str
    actor: str
    occurred_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    data: dict[str, Any]


class WebhookReceipt(BaseModel):
    """Stripe needs a 2xx to stop retrying; the fields say what became of the event."""

    received: bool
    handled: bool | None = None
    duplicate: bool | None = None
    error: str | None = Field(None, description="a domain refusal's code (money moved anyway)")


def evidence_kind(e: EvidenceIn) -> EvidenceKind:
    kind: EvidenceKind = e.kind
    return kind


def evidence_details(e: EvidenceIn) -> dict[str, Any]:
    return e.model_dump(mode="json", exclude={"kind"}, exclude_none=True)
