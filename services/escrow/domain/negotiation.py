"""Disputes as people run them: evidence from both sides, the supplier's response, split
offers and counters, and escalation to the platform's finance staff.

A milestone dispute is ``open`` when opened; both parties add evidence (text, or a document
by type, SHA-256 and URI) and the supplier responds. Either party offers a split
(release + refund = the disputed amount, exactly); the dispute is then ``negotiating``
until the other party accepts (the dispute is resolved by that split, through the same
release/refund mechanics as finance's resolution) or counters (a new offer, the old one
``countered``). When the parties' deadline (``respond_by``) passes, or a party asks, the
dispute is ``escalated``: finance resolves it as before. A card chargeback has no
negotiation (the bank decides): it takes neither offers nor escalation.
"""

from __future__ import annotations

from datetime import datetime

from services.escrow.domain.disputes import resolve_dispute
from services.escrow.domain.errors import (
    InvalidAmount,
    InvalidEvidence,
    InvalidTransition,
    UnknownOffer,
    WrongParty,
)
from services.escrow.domain.model import Dispute, Escrow
from services.escrow.domain.records import (
    DisputeEvidence,
    DocumentRef,
    SplitOffer,
    SupplierResponse,
)
from services.escrow.domain.rules import Decision, new_id
from shared.events.escrow import (
    DisputeEscalated,
    DisputeEvidenceAdded,
    DisputeOfferAccepted,
    DisputeOfferMade,
    DisputeOutcome,
    DisputeParty,
    DisputeResponded,
)

SHA256_HEX = frozenset("0123456789abcdef")


def _live(escrow: Escrow, dispute_id: str, *, negotiable: bool = False) -> Dispute:
    d = escrow.dispute(dispute_id)
    if not d.is_open:
        raise InvalidTransition("the dispute is resolved")
    if negotiable and d.milestone_id is None:
        raise InvalidTransition("a card chargeback is decided by the bank, not negotiated")
    if negotiable and d.status == "escalated":
        raise InvalidTransition("the dispute is escalated: finance decides it now")
    return d


def _in_time(d: Dispute, now: datetime) -> None:
    """Offers are the parties' business until their deadline; then finance's, whether or
    not the timer has escalated the dispute yet."""
    if d.respond_by is not None and now >= d.respond_by:
        raise InvalidTransition("the parties' deadline has passed: finance decides it now")


def add_evidence(
    escrow: Escrow,
    dispute_id: str,
    party: DisputeParty,
    text: str | None,
    document: DocumentRef | None,
    actor: str,
    now: datetime,
) -> Decision:
    """Either party's evidence, while the dispute is not resolved (finance reads it)."""
    d = _live(escrow, dispute_id)
    if (text is None) == (document is None):
        raise InvalidEvidence("evidence is either text or a document reference")
    if text is not None and not text.strip():
        raise InvalidEvidence("evidence text is blank")
    if document is not None and (
        len(document.sha256) != 64 or not set(document.sha256) <= SHA256_HEX
    ):
        raise InvalidEvidence("sha256 must be 64 lowercase hex digits")
    item = DisputeEvidence(
        evidence_id=new_id(),
        party=party,
        kind="text" if text is not None else "document",
        text=text,
        document=document,
        submitted_by=actor,
        submitted_at=now,
    )
    escrow = escrow.with_dispute(d.model_copy(update={"submissions": (*d.submissions, item)}))
    return escrow, [
        DisputeEvidenceAdded(
            order_id=escrow.order_id,
            dispute_id=dispute_id,
            evidence_id=item.evidence_id,
            party=party,
            kind=item.kind,
            text=text,
            document_type=document.document_type if document else None,
            sha256=document.sha256 if document else None,
            uri=document.uri if document else None,
        )
    ]


def respond(
    escrow: Escrow, dispute_id: str, party: DisputeParty, text: str, actor: str, now: datetime
) -> Decision:
    """The supplier's answer to the buyer's dispute (once; later words are evidence)."""
    d = _live(escrow, dispute_id, negotiable=True)
    if party != "supplier":
        raise WrongParty("only the supplier responds to a dispute")
    if d.response is not None:
        raise InvalidTransition("the supplier has responded already; add evidence instead")
    response = SupplierResponse(text=text, responded_by=actor, responded_at=now)
    escrow = escrow.with_dispute(d.model_copy(update={"response": response}))
    return escrow, [DisputeResponded(order_id=escrow.order_id, dispute_id=dispute_id, text=text)]


def make_offer(
    escrow: Escrow,
    dispute_id: str,
    party: DisputeParty,
    release_amount: int,
    refund_amount: int,
    note: str | None,
    actor: str,
    now: datetime,
) -> Decision:
    """Offer a split; with an offer of the other party open, this is its counter."""
    d = _live(escrow, dispute_id, negotiable=True)
    _in_time(d, now)
    if type(release_amount) is not int or type(refund_amount) is not int:
        raise InvalidAmount("amounts are integer minor units")
    if release_amount < 0 or refund_amount < 0:
        raise InvalidAmount("a split's parts are not negative")
    if release_amount + refund_amount != d.amount:
        raise InvalidAmount(
            f"release {release_amount} + refund {refund_amount} must be the disputed {d.amount}"
        )
    standing = d.open_offer
    if standing is not None and standing.party == party:
        raise InvalidTransition("your offer awaits an answer: the other party accepts or counters")
    offers = tuple(
        o.model_copy(update={"status": "countered"}) if o.status == "open" else o for o in d.offers
    )
    offer = SplitOffer(
        offer_id=new_id(),
        party=party,
        release_amount=release_amount,
        refund_amount=refund_amount,
        note=note,
        counter_to=standing.offer_id if standing is not None else None,
        made_by=actor,
        made_at=now,
    )
    d = d.model_copy(update={"offers": (*offers, offer), "status": "negotiating"})
    escrow = escrow.with_dispute(d)
    return escrow, [
        DisputeOfferMade(
            order_id=escrow.order_id,
            dispute_id=dispute_id,
            offer_id=offer.offer_id,
            party=party,
            release_amount=release_amount,
            refund_amount=refund_amount,
            currency=escrow.currency,
            counter_to=offer.counter_to,
        )
    ]


def accept_offer(
    escrow: Escrow, dispute_id: str, offer_id: str, party: DisputeParty, now: datetime
) -> Decision:
    """The other party accepts: the dispute is resolved by the split, to the minor unit."""
    d = _live(escrow, dispute_id, negotiable=True)
    _in_time(d, now)
    offer = next((o for o in d.offers if o.offer_id == offer_id), None)
    if offer is None:
        raise UnknownOffer(f"offer {offer_id} is not part of dispute {dispute_id}")
    if offer.status != "open":
        raise InvalidTransition(f"offer {offer_id} is {offer.status}: only an open one is accepted")
    if offer.party == party:
        raise WrongParty("an offer is accepted by the other party")
    accepted = DisputeOfferAccepted(
        order_id=escrow.order_id,
        dispute_id=dispute_id,
        offer_id=offer_id,
        party=party,
        release_amount=offer.release_amount,
        refund_amount=offer.refund_amount,
        currency=escrow.currency,
    )
    offers = tuple(
        o.model_copy(update={"status": "accepted"}) if o.offer_id == offer_id else o
        for o in d.offers
    )
    escrow = escrow.with_dispute(d.model_copy(update={"offers": offers}))
    outcome: DisputeOutcome
    if offer.refund_amount == 0:
        outcome, release = "release", None
    elif offer.release_amount == 0:
        outcome, release = "refund", None
    else:
        outcome, release = "split", offer.release_amount
    escrow, events = resolve_dispute(escrow, dispute_id, outcome, release, now, by="agreement")
    return escrow, [accepted, *events]


def escalate(
    escrow: Escrow,
    dispute_id: str,
    by: DisputeParty | None,
    reason: str,
    now: datetime,
) -> Decision:
    """To finance: asked by a party, or the parties' deadline passed (``by=None``)."""
    d = _live(escrow, dispute_id, negotiable=True)
    offers = tuple(
        o.model_copy(update={"status": "lapsed"}) if o.status == "open" else o for o in d.offers
    )
    d = d.model_copy(
        update={
            "status": "escalated",
            "escalated_at": now,
            "escalation_reason": reason,
            "offers": offers,
            "respond_by": None,
        }
    )
    escrow = escrow.with_dispute(d)
    event = DisputeEscalated(
        order_id=escrow.order_id,
        dispute_id=dispute_id,
        reason=reason,
        escalated_by=by or "deadline",
    )
    return escrow, [event]


def negotiation_lapsed(escrow: Escrow, dispute_id: str, now: datetime) -> Decision:
    """The deadline timer: escalate a dispute still in the parties' hands (else no-op)."""
    d = next((d for d in escrow.disputes if d.dispute_id == dispute_id), None)
    due = d is not None and d.respond_by is not None and now >= d.respond_by
    if d is None or d.status not in ("open", "negotiating") or d.milestone_id is None or not due:
        return escrow, []
    return escalate(escrow, dispute_id, None, "deadline_lapsed", now)
