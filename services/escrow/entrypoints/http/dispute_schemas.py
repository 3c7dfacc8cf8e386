"""Request and response bodies of the dispute, rejection and partial refund routes.

Kept apart from ``schemas.py`` (orders and milestones). A caller acts as a party: a key
holding the platform scope speaks for the buyer unless it says ``"party": "supplier"``
(the platform also relays its suppliers' words); a supplier key is the supplier, always.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.escrow.domain.model import Dispute, Escrow
from services.escrow.domain.records import DocumentRef
from services.escrow.service_layer.unit_of_work import TimelineRecord
from shared.events.escrow import DisputeParty, RejectionRemedy
from shared.events.types import NonNegativeMinorUnits, PositiveMinorUnits, Text

LongText = Annotated[str, Field(min_length=1, max_length=5_000)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the file")]
Uri = Annotated[str, Field(min_length=1, max_length=2_048)]


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_type: Text
    sha256: Sha256
    uri: Uri

    def ref(self) -> DocumentRef:
        return DocumentRef(document_type=self.document_type, sha256=self.sha256, uri=self.uri)


class Acting(BaseModel):
    party: DisputeParty | None = Field(
        None, description="who the caller speaks for; default: buyer for a platform key"
    )


class DisputeEvidenceCreate(Acting):
    model_config = _examples(
        {"party": "buyer", "text": "12 of 40 crates arrived wet; photos attached"},
        {
            "party": "supplier",
            "document": {
                "document_type": "packing_list",
                "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "uri": "https://files.example.com/pl-2291.pdf",
            },
        },
    )

    text: LongText | None = None
    document: DocumentIn | None = None


class DisputeResponseCreate(Acting):
    model_config = _examples(
        {"party": "supplier", "text": "Packed to spec; the carrier is at fault"}
    )

    text: LongText


class SplitOfferCreate(Acting):
    model_config = _examples(
        {"party": "supplier", "release_amount": 30_000, "refund_amount": 10_000, "note": "25% off"}
    )

    release_amount: NonNegativeMinorUnits
    refund_amount: NonNegativeMinorUnits
    note: Text | None = None


class OfferAcceptance(Acting):
    model_config = _examples({"party": "buyer"})


class EscalationCreate(Acting):
    model_config = _examples({"party": "buyer", "reason": "no answer from the supplier"})

    reason: Text


class RejectionCreate(BaseModel):
    model_config = _examples(
        {
            "remedy": "return",
            "reasons": ["moisture damage on 12 of 40 crates"],
            "evidence": ["SGS report R-2291 failed"],
        }
    )

    remedy: Literal["dispute", "return"] = Field(
        description="dispute: negotiate a split; return: send the goods back for a refund"
    )
    reasons: Annotated[list[Text], Field(min_length=1, max_length=20)]
    evidence: Annotated[list[Text], Field(max_length=50)] = []


class RejectionAnswer(Acting):
    """The supplier's step: a platform key says ``"party": "supplier"``."""

    model_config = _examples({"remedy": "reinspection"}, {"remedy": "return", "party": "supplier"})

    remedy: RejectionRemedy


class ReturnShipment(BaseModel):
    model_config = _examples({"carrier": "DHL", "tracking": "JD014600006281234567"})

    carrier: Text
    tracking: Text
    document: DocumentIn | None = None


class ReturnReceipt(Acting):
    """The supplier's step: a platform key says ``"party": "supplier"``."""

    model_config = _examples({}, {"party": "supplier"})


class PartialRefundCreate(Acting):
    model_config = _examples(
        {
            "party": "buyer",
            "milestone_id": "0192f1c4-8f4e-7c1a-9e63-3f5d7c2b1a00",
            "amount": 1_250,
            "reason": "delivered a week late",
        }
    )

    milestone_id: Text
    amount: PositiveMinorUnits
    reason: Text


class PartialRefundAnswer(Acting):
    model_config = _examples({"party": "supplier"})


class HistoryEntry(BaseModel):
    event_id: str
    type: str
    actor: str
    occurred_at: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, r: TimelineRecord) -> HistoryEntry:
        return cls(
            event_id=str(r.event_id),
            type=r.event_type,
            actor=r.actor,
            occurred_at=r.occurred_at,
            data=r.data,
        )


class DisputePublic(Dispute):
    """A dispute with its order's context; ``history``: its events in order (detail only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    object: Literal["dispute"] = "dispute"
    id: str = Field(description="the dispute's id (its dispute_id): a page's starting_after")
    order_id: str
    tenant_id: str
    buyer_id: str
    supplier_id: str
    currency: str
    history: list[HistoryEntry] | None = None

    @classmethod
    def of(
        cls, escrow: Escrow, dispute: Dispute, history: list[TimelineRecord] | None = None
    ) -> DisputePublic:
        return cls.model_validate(
            {
                **dict(dispute),
                "id": dispute.dispute_id,
                "order_id": escrow.order_id,
                "tenant_id": escrow.tenant_id,
                "buyer_id": escrow.buyer_id,
                "supplier_id": escrow.supplier_id,
                "currency": escrow.currency,
                "history": [HistoryEntry.of(r) for r in history] if history is not None else None,
            }
        )
