"""Use cases of a dispute as people run it: evidence, the supplier's response, offers,
acceptance (which resolves and settles the split inline), escalation; and the reads of
disputes across orders.

Each command decides on the caller's order through ``commands.on_order`` (re-decided on a
conflict, settled inline); the party (buyer or supplier) the caller acts as is the
entrypoint's to establish, the domain checks it may do what it asks.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.escrow.domain import negotiation
from services.escrow.domain.errors import UnknownDispute
from services.escrow.domain.model import Dispute, Escrow
from services.escrow.domain.records import DocumentRef
from services.escrow.service_layer.commands import Caller, on_order, visible_order
from services.escrow.service_layer.decisions import BeforeCommit
from services.escrow.service_layer.errors import OrderNotFound
from services.escrow.service_layer.gateway import PaymentGateway
from services.escrow.service_layer.unit_of_work import (
    AbstractEscrowUnitOfWork,
    DisputeFilter,
    TimelineRecord,
    UnitOfWorkFactory,
)
from shared.clock import Clock
from shared.events.escrow import DisputeParty
from shared.pagination import MAX_LIMIT, Page, Window


@dataclass(frozen=True)
class DisputeTerms:
    """What every dispute command on an order needs."""

    uows: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway
    caller: Caller
    order_id: str
    dispute_id: str
    before_commit: BeforeCommit | None = None


async def add_dispute_evidence(
    t: DisputeTerms, party: DisputeParty, text: str | None, document: DocumentRef | None
) -> Escrow:
    return await on_order(
        t.uows, t.clock, t.gateway, t.caller, t.order_id,
        lambda e: negotiation.add_evidence(
            e, t.dispute_id, party, text, document, t.caller.actor, t.clock.now()
        ),
        t.before_commit,
    )  # fmt: skip


async def respond_to_dispute(t: DisputeTerms, party: DisputeParty, text: str) -> Escrow:
    return await on_order(
        t.uows, t.clock, t.gateway, t.caller, t.order_id,
        lambda e: negotiation.respond(e, t.dispute_id, party, text, t.caller.actor, t.clock.now()),
        t.before_commit,
    )  # fmt: skip


async def offer_split(
    t: DisputeTerms, party: DisputeParty, release_amount: int, refund_amount: int, note: str | None
) -> Escrow:
    return await on_order(
        t.uows, t.clock, t.gateway, t.caller, t.order_id,
        lambda e: negotiation.make_offer(
            e, t.dispute_id, party, release_amount, refund_amount, note, t.caller.actor,
            t.clock.now(),
        ),
        t.before_commit,
    )  # fmt: skip


async def accept_split(t: DisputeTerms, party: DisputeParty, offer_id: str) -> Escrow:
    """The other party accepts the offer: resolved, released and refunded (inline)."""
    return await on_order(
        t.uows, t.clock, t.gateway, t.caller, t.order_id,
        lambda e: negotiation.accept_offer(e, t.dispute_id, offer_id, party, t.clock.now()),
        t.before_commit,
    )  # fmt: skip


async def escalate_dispute(t: DisputeTerms, party: DisputeParty, reason: str) -> Escrow:
    return await on_order(
        t.uows, t.clock, t.gateway, t.caller, t.order_id,
        lambda e: negotiation.escalate(e, t.dispute_id, party, reason, t.clock.now()),
        t.before_commit,
    )  # fmt: skip


# --- reads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DisputeView:
    escrow: Escrow
    dispute: Dispute
    history: list[TimelineRecord]


async def get_dispute(
    uow: AbstractEscrowUnitOfWork, caller: Caller, dispute_id: str
) -> DisputeView:
    """The dispute with its order and the timeline entries about it; another tenant's or
    another supplier's is not found."""
    async with uow:
        order_id = await uow.escrows.order_of_dispute(caller.tenant_id, dispute_id)
        try:
            escrow = await visible_order(uow, caller, order_id or "")
        except OrderNotFound:
            raise UnknownDispute(f"no dispute {dispute_id}") from None
        history = [
            r
            for r in await _whole_timeline(uow, caller.tenant_id, escrow.order_id)
            if r.data.get("dispute_id") == dispute_id
        ]
    return DisputeView(escrow, escrow.dispute(dispute_id), history)


async def _whole_timeline(
    uow: AbstractEscrowUnitOfWork, tenant_id: str, order_id: str
) -> list[TimelineRecord]:
    """The order's timeline, every page of it (a dispute's history is a handful of them)."""
    records: list[TimelineRecord] = []
    page = Page(limit=MAX_LIMIT)
    while True:
        window = await uow.escrows.timeline(tenant_id, order_id, page)
        records += window.items
        if not window.has_more:
            return records
        page = Page(limit=MAX_LIMIT, starting_after=str(records[-1].event_id))


async def list_disputes(
    uow: AbstractEscrowUnitOfWork, caller: Caller, flt: DisputeFilter, page: Page
) -> Window[tuple[Escrow, Dispute]]:
    """The tenant's disputes, newest opened first (``flt.supplier_id``: as the caller may)."""
    async with uow:
        refs = await uow.escrows.find_disputes(caller.tenant_id, flt, page)
        found = []
        for order_id, dispute_id in refs.items:
            escrow = await uow.escrows.get(order_id, caller.tenant_id)
            if escrow is not None:
                found.append((escrow, escrow.dispute(dispute_id)))
    return Window(found, refs.has_more)
