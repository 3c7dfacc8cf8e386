"""What the people running a dispute, a rejection or a partial refund leave on the record.

Value objects kept inside the escrow aggregate (``model.py``): evidence and split offers of
a dispute, the buyer's rejection of a milestone and the supplier's answer, a partial
refund proposed by one party and consented to by the other. Amounts are minor units of
the order's currency. Documents are referenced (type, SHA-256, URI), never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.events.escrow import (
    DisputeParty,
    OfferStatus,
    ProposalStatus,
    RejectionRemedy,
)


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentRef(Record):
    """A document kept elsewhere: what it is, its SHA-256 (hex) and where to fetch it."""

    document_type: str
    sha256: str
    uri: str


class DisputeEvidence(Record):
    evidence_id: str
    party: DisputeParty
    kind: Literal["text", "document"]
    text: str | None = None
    document: DocumentRef | None = None
    submitted_by: str
    submitted_at: datetime


class SplitOffer(Record):
    """One side's proposal to end a dispute: release + refund = the disputed amount."""

    offer_id: str
    party: DisputeParty
    release_amount: int
    refund_amount: int
    note: str | None = None
    status: OfferStatus = "open"
    counter_to: str | None = None  # the offer this one answers
    made_by: str
    made_at: datetime


class SupplierResponse(Record):
    text: str
    responded_by: str
    responded_at: datetime


class Rejection(Record):
    """The buyer refused a milestone after a failed inspection, and what became of it."""

    rejection_id: str
    reasons: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    rejected_by: str
    rejected_at: datetime
    remedy: RejectionRemedy | None = None  # chosen by the supplier (or by the deadline)
    answered_by: str | None = None
    return_carrier: str | None = None
    return_tracking: str | None = None
    return_document: DocumentRef | None = None
    status: Literal["open", "closed"] = "open"


class RefundProposal(Record):
    """A partial refund outside a dispute: one party proposes, the other consents."""

    proposal_id: str
    milestone_id: str
    amount: int
    reason: str
    proposed_party: DisputeParty
    proposed_by: str
    proposed_at: datetime
    expires_at: datetime
    status: ProposalStatus = "open"
    answered_by: str | None = None
    answered_at: datetime | None = None
    refund_ids: tuple[str, ...] = ()
