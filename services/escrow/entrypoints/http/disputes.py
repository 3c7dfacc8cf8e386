"""Disputes as people run them: the list and detail across orders, evidence from both
parties, the supplier's response, split offers, their acceptance, escalation.

Finance's resolution stays ``POST /v1/orders/{order_id}/disputes/{dispute_id}/resolve``
(milestones.py), allowed in every state but ``resolved``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request

from services.escrow.domain.model import Escrow
from services.escrow.entrypoints.http.deps import Anyone, Container, PlatformOrSupplier, caller
from services.escrow.entrypoints.http.dispute_schemas import (
    DisputeEvidenceCreate,
    DisputePublic,
    DisputeResponseCreate,
    EscalationCreate,
    OfferAcceptance,
    SplitOfferCreate,
)
from services.escrow.entrypoints.http.errors import answered
from services.escrow.service_layer import negotiations
from services.escrow.service_layer.decisions import BeforeCommit
from services.escrow.service_layer.unit_of_work import DisputeFilter
from shared.events.escrow import DisputeParty, DisputeStatus
from shared.http.auth import Principal
from shared.http.errors import ApiError
from shared.http.idempotency import answer
from shared.http.openapi import PARTY_MISMATCH, Responses
from shared.http.pagination import ListOf, Paging

router = APIRouter(tags=["disputes"])
# A party doing the other party's step (or a supplier key speaking for the buyer).
WRONG_PARTY: Responses = {
    403: {
        "description": "wrong_party: the other party's step; insufficient_scope: a supplier "
        "key speaking for the buyer"
    }
}
ON_ORDER = "/v1/orders/{order_id}/disputes/{dispute_id}"


def acting_party(who: Principal, stated: DisputeParty | None) -> DisputeParty:
    """The party a caller speaks for: a platform key for the buyer unless it names the
    supplier; a supplier key for its supplier only (naming the buyer is refused)."""
    if "platform" in who.scopes:
        return stated or "buyer"
    if stated == "buyer":
        raise ApiError(403, "insufficient_scope", "a supplier key does not speak for the buyer")
    return "supplier"


def _terms(
    c: Container, who: Principal, order_id: str, dispute_id: str
) -> negotiations.DisputeTerms:
    def answering(escrow: Escrow) -> None:
        answer(DisputePublic.of(escrow, escrow.dispute(dispute_id)))

    before: BeforeCommit = answering
    return negotiations.DisputeTerms(
        c.unit_of_work, c.clock, c.gateway, caller(who), order_id, dispute_id, before
    )


@router.get("/v1/disputes", responses=PARTY_MISMATCH)
async def list_disputes(
    request: Request,
    who: Anyone,
    c: Container,
    page: Paging,
    status: DisputeStatus | None = None,
    order_id: str | None = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
) -> ListOf[DisputePublic]:
    """The tenant's disputes, newest opened first (a bound supplier key: its own)."""
    supplier = who.supplier_filter(None, unbound_must_name=False)
    flt = DisputeFilter(status, order_id, supplier, opened_after, opened_before)
    with answered():
        window = await negotiations.list_disputes(c.unit_of_work(), caller(who), flt, page)
    return ListOf[DisputePublic].of(window, request, lambda found: DisputePublic.of(*found))


@router.get("/v1/disputes/{dispute_id}")
async def get_dispute(dispute_id: str, who: Anyone, c: Container) -> DisputePublic:
    """The dispute with its evidence, response, offers and its events in order."""
    with answered():
        view = await negotiations.get_dispute(c.unit_of_work(), caller(who), dispute_id)
    return DisputePublic.of(view.escrow, view.dispute, view.history)


@router.post(f"{ON_ORDER}/evidence", status_code=201)
async def add_evidence(
    order_id: str,
    dispute_id: str,
    body: DisputeEvidenceCreate,
    who: PlatformOrSupplier,
    c: Container,
) -> DisputePublic:
    party = acting_party(who, body.party)
    document = body.document.ref() if body.document is not None else None
    with answered():
        escrow = await negotiations.add_dispute_evidence(
            _terms(c, who, order_id, dispute_id), party, body.text, document
        )
    return DisputePublic.of(escrow, escrow.dispute(dispute_id))


@router.post(f"{ON_ORDER}/response", responses=WRONG_PARTY)
async def respond(
    order_id: str,
    dispute_id: str,
    body: DisputeResponseCreate,
    who: PlatformOrSupplier,
    c: Container,
) -> DisputePublic:
    party = acting_party(who, body.party)
    with answered():
        escrow = await negotiations.respond_to_dispute(
            _terms(c, who, order_id, dispute_id), party, body.text
        )
    return DisputePublic.of(escrow, escrow.dispute(dispute_id))


@router.post(f"{ON_ORDER}/offers", status_code=201)
async def offer(
    order_id: str, dispute_id: str, body: SplitOfferCreate, who: PlatformOrSupplier, c: Container
) -> DisputePublic:
    """Offer a split (release + refund = the disputed amount); counters an open offer."""
    party = acting_party(who, body.party)
    with answered():
        escrow = await negotiations.offer_split(
            _terms(c, who, order_id, dispute_id),
            party,
            body.release_amount,
            body.refund_amount,
            body.note,
        )
    return DisputePublic.of(escrow, escrow.dispute(dispute_id))


@router.post(f"{ON_ORDER}/offers/{{offer_id}}/accept", responses=WRONG_PARTY)
async def accept_offer(
    order_id: str,
    dispute_id: str,
    offer_id: str,
    body: OfferAcceptance,
    who: PlatformOrSupplier,
    c: Container,
) -> DisputePublic:
    """The other party accepts: resolved, its release and refund made (inline)."""
    party = acting_party(who, body.party)
    with answered():
        escrow = await negotiations.accept_split(
            _terms(c, who, order_id, dispute_id), party, offer_id
        )
    return DisputePublic.of(escrow, escrow.dispute(dispute_id))


@router.post(f"{ON_ORDER}/escalate")
async def escalate(
    order_id: str, dispute_id: str, body: EscalationCreate, who: PlatformOrSupplier, c: Container
) -> DisputePublic:
    """Hand the dispute to the platform's finance staff before its deadline."""
    party = acting_party(who, body.party)
    with answered():
        escrow = await negotiations.escalate_dispute(
            _terms(c, who, order_id, dispute_id), party, body.reason
        )
    return DisputePublic.of(escrow, escrow.dispute(dispute_id))
