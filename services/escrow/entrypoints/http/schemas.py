"""Request and response bodies of the escrow API. Money is integer minor units, never a float."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.escrow.domain.model import Escrow
from shared.events.escrow import DisputeOutcome, EvidenceKind, MilestoneKind
from shared.events.types import CurrencyCode, NonNegativeMinorUnits, PositiveMinorUnits, Text

DEFAULT_WINDOW = 3 * 86_400


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MilestoneCreate(In):
    name: Text
    amount: PositiveMinorUnits
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


class FundRequest(In):
    amount: PositiveMinorUnits | None = None  # default: everything not funded yet


class WireConfirmation(In):
    amount: PositiveMinorUnits
    reference: Text


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
    amount: int
    currency: str
    stripe_payment_intent_id: str
    client_secret: str


def order_public(e: Escrow) -> dict[str, Any]:
    body = e.model_dump(mode="json")
    body.update(held=e.held, available=e.available, frozen=e.frozen, reserved=e.reserved)
    return body


def evidence_kind(e: EvidenceIn) -> EvidenceKind:
    kind: EvidenceKind = e.kind
    return kind


def evidence_details(e: EvidenceIn) -> dict[str, Any]:
    return e.model_dump(mode="json", exclude={"kind"}, exclude_none=True)
