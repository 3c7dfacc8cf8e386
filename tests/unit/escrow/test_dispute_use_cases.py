"""The use cases of disputes as people run them, of rejections and partial refunds, against
the in-memory unit of work: what they commit (state, events, timers), that a refusal commits
nothing, and the reads of disputes across orders."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.escrow.domain.errors import (
    InvalidAmount,
    InvalidTransition,
    UnknownDispute,
    WrongParty,
)
from services.escrow.domain.model import Escrow
from services.escrow.domain.records import DocumentRef
from services.escrow.service_layer import commands, negotiations, returns, timers
from services.escrow.service_layer.commands import Caller
from services.escrow.service_layer.decisions import DEADLINE_TIMER
from services.escrow.service_layer.errors import OrderNotFound
from services.escrow.service_layer.unit_of_work import DisputeFilter
from shared.clock import ManualClock
from shared.pagination import InvalidCursor, Page
from shared.unit_of_work import ScheduledTimer
from tests.unit.escrow.builders import DAY, EVIDENCE, T0, funded, ms, new_order
from tests.unit.escrow.fakes import FakeEscrowUnitOfWork, FakeGateway

PLATFORM = Caller(tenant_id="t1", actor="apikey:platform")
SUPPLIER = Caller(tenant_id="t1", actor="apikey:supplier-1", party="supplier-1")
FINANCE = Caller(tenant_id="t1", actor="apikey:finance")
OTHER_SUPPLIER = Caller(tenant_id="t1", actor="apikey:supplier-2", party="supplier-2")
OTHER_TENANT = Caller(tenant_id="t2", actor="apikey:t2")


@pytest.fixture
def uow() -> FakeEscrowUnitOfWork:
    return FakeEscrowUnitOfWork()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


def deadline_timers(uow: FakeEscrowUnitOfWork) -> list[ScheduledTimer]:
    return [t for (kind, _), t in uow.timers.pending.items() if kind == DEADLINE_TIMER]


async def disputed(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> tuple[Escrow, str]:
    escrow = uow.seed(funded(new_order((30_000, 40_001, 29_999))))
    after = await commands.open_dispute(
        uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0), "damaged", ["photo"]
    )
    return after, after.disputes[0].dispute_id


def terms(
    uow: FakeEscrowUnitOfWork,
    clock: ManualClock,
    gateway: FakeGateway,
    who: Caller,
    escrow: Escrow,
    dispute_id: str,
) -> negotiations.DisputeTerms:
    return negotiations.DisputeTerms(uow, clock, gateway, who, escrow.order_id, dispute_id)


async def test_opening_schedules_the_negotiation_deadline_and_lists_the_dispute(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, did = await disputed(uow, clock, gateway)
    [timer] = deadline_timers(uow)
    assert timer.due_at == escrow.dispute(did).respond_by
    assert timer.payload["what"] == "dispute" and timer.payload["subject"] == did
    page = await negotiations.list_disputes(uow, PLATFORM, DisputeFilter(), Page(limit=10))
    assert [d.dispute_id for _, d in page.items] == [did] and not page.has_more


async def test_evidence_response_counter_and_acceptance_settle_the_split_through_stripe(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, did = await disputed(uow, clock, gateway)
    as_buyer = terms(uow, clock, gateway, PLATFORM, escrow, did)
    as_supplier = terms(uow, clock, gateway, SUPPLIER, escrow, did)
    doc = DocumentRef(document_type="survey", sha256="b" * 64, uri="https://f.example/s.pdf")
    await negotiations.add_dispute_evidence(as_buyer, "buyer", "wet crates", None)
    await negotiations.add_dispute_evidence(as_supplier, "supplier", None, doc)
    await negotiations.respond_to_dispute(as_supplier, "supplier", "carrier's fault")
    e = await negotiations.offer_split(as_supplier, "supplier", 25_000, 5_000, None)
    first = e.dispute(did).offers[0].offer_id
    e = await negotiations.offer_split(as_buyer, "buyer", 15_000, 15_000, "half")
    counter = e.dispute(did).offers[1].offer_id
    with pytest.raises(InvalidTransition):
        await negotiations.accept_split(as_supplier, "supplier", first)
    done = await negotiations.accept_split(as_supplier, "supplier", counter)
    d = done.dispute(did)
    assert (d.status, d.resolved_by, d.release_amount, d.refund_amount) == (
        "resolved",
        "agreement",
        15_000,
        15_000,
    )
    [transfer] = gateway.made("transfer")
    [refund] = gateway.made("refund")
    assert refund["amount"] == 15_000 and transfer["amount"] == 15_000 - 150  # 1% fee
    assert done.frozen == 0 and done.milestones[0].status == "released"
    assert deadline_timers(uow) == []  # the negotiation deadline is cancelled
    types = [env.type for env in uow.outbox.envelopes]
    for t in (
        "escrow.dispute_evidence_added",
        "escrow.dispute_responded",
        "escrow.dispute_offer_made",
        "escrow.dispute_offer_accepted",
        "escrow.dispute_resolved",
        "escrow.milestone_released",
        "escrow.refunded",
    ):
        assert t in types
    view = await negotiations.get_dispute(uow, SUPPLIER, did)
    history = [r.event_type for r in view.history]
    assert history[0] == "escrow.dispute_opened" and history[-1] == "escrow.dispute_resolved"
    assert len(view.dispute.submissions) == 2 and view.dispute.response is not None


async def test_the_deadline_timer_escalates_and_finance_resolves(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, did = await disputed(uow, clock, gateway)
    [timer] = deadline_timers(uow)
    async with uow:
        await timers.deadline_lapsed(
            uow, clock, escrow.order_id, "dispute", did, timer.due_at, None
        )
        await uow.commit()
    e = uow.escrows.rows[escrow.order_id]
    assert e.dispute(did).status == "escalated" and deadline_timers(uow) == []
    entry = uow.escrows.entries[-1][2]
    assert (entry.event_type, entry.actor) == ("escrow.dispute_escalated", "system:deadline")
    page = await negotiations.list_disputes(
        uow, FINANCE, DisputeFilter(status="escalated"), Page(limit=10)
    )
    assert len(page.items) == 1
    with pytest.raises(InvalidTransition):
        await negotiations.offer_split(
            terms(uow, clock, gateway, PLATFORM, escrow, did), "buyer", 1, 30_000 - 1, None
        )
    done = await commands.resolve_dispute(
        uow, clock, gateway, FINANCE, escrow.order_id, did, "split", 10_001
    )
    assert done.dispute(did).resolved_by == "finance" and done.refunded == 30_000 - 10_001


async def test_a_bad_offer_and_another_suppliers_key_change_nothing(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, did = await disputed(uow, clock, gateway)
    before, outbox = uow.escrows.rows[escrow.order_id], list(uow.outbox.envelopes)
    with pytest.raises(InvalidAmount):
        await negotiations.offer_split(
            terms(uow, clock, gateway, PLATFORM, escrow, did), "buyer", 1, 1, None
        )
    with pytest.raises(OrderNotFound):
        await negotiations.offer_split(
            terms(uow, clock, gateway, OTHER_SUPPLIER, escrow, did), "supplier", 30_000, 0, None
        )
    assert uow.escrows.rows[escrow.order_id] == before and uow.outbox.envelopes == outbox
    for who in (OTHER_SUPPLIER, OTHER_TENANT):
        with pytest.raises(UnknownDispute):
            await negotiations.get_dispute(uow, who, did)


async def test_listing_filters_and_pages_with_starting_after(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    ids = []
    for i in range(3):
        clock.set(T0 + i * DAY / 10)
        _, did = await disputed(uow, clock, gateway)
        ids.append(did)
    first = await negotiations.list_disputes(uow, PLATFORM, DisputeFilter(), Page(limit=2))
    assert [d.dispute_id for _, d in first.items] == [ids[2], ids[1]] and first.has_more
    rest = await negotiations.list_disputes(
        uow, PLATFORM, DisputeFilter(), Page(limit=2, starting_after=ids[1])
    )
    assert [d.dispute_id for _, d in rest.items] == [ids[0]] and not rest.has_more
    cut = T0 + DAY / 20
    after: datetime = cut
    newer = await negotiations.list_disputes(
        uow, PLATFORM, DisputeFilter(opened_after=after), Page(limit=10)
    )
    assert len(newer.items) == 2
    older = await negotiations.list_disputes(
        uow, PLATFORM, DisputeFilter(opened_before=cut), Page(limit=10)
    )
    assert [d.dispute_id for _, d in older.items] == [ids[0]]
    one_order = uow.escrows.dispute_index[ids[0]][0]
    by_order = await negotiations.list_disputes(
        uow, PLATFORM, DisputeFilter(order_id=one_order), Page(limit=10)
    )
    assert [d.dispute_id for _, d in by_order.items] == [ids[0]]
    assert (
        await negotiations.list_disputes(uow, OTHER_TENANT, DisputeFilter(), Page(limit=10))
    ).items == []
    with pytest.raises(InvalidCursor):
        await negotiations.list_disputes(
            uow, OTHER_TENANT, DisputeFilter(), Page(limit=10, starting_after=ids[0])
        )


async def test_rejection_return_and_receipt_refund_through_stripe_with_timers(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    e = new_order((30_000, 40_001), ("contract", "inspection"))
    e = uow.seed(funded(e))
    mid = ms(e, 1)
    failed = {**EVIDENCE["inspection"], "passed": False}
    await commands.submit_evidence(
        uow, clock, gateway, SUPPLIER, e.order_id, mid, "inspection", failed
    )
    with pytest.raises(InvalidTransition):  # as before: no dispute outside a window
        await commands.open_dispute(uow, clock, gateway, PLATFORM, e.order_id, mid, "bad", [])
    r = await returns.reject_milestone(
        uow, clock, gateway, PLATFORM, e.order_id, mid, "return", ["mould"], ["R-1"]
    )
    assert r.milestone(mid).status == "rejected"
    [timer] = deadline_timers(uow)
    assert timer.payload["what"] == "milestone" and timer.due_at == r.milestone(mid).due_by
    await returns.answer_rejection(uow, clock, gateway, SUPPLIER, e.order_id, mid, "return")
    await returns.ship_return(uow, clock, gateway, PLATFORM, e.order_id, mid, "DHL", "JD1", None)
    [timer] = deadline_timers(uow)  # one deadline at a time: the receipt's now
    clock.advance(DAY)
    done = await returns.confirm_return(uow, clock, gateway, SUPPLIER, e.order_id, mid)
    [refund] = gateway.made("refund")
    assert refund["amount"] == 40_001
    assert done.milestone(mid).status == "refunded" and done.refunded == 40_001
    assert deadline_timers(uow) == []


async def test_a_lapsed_receipt_refunds_by_the_settlement_timer(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    e = uow.seed(funded(new_order((30_000, 40_001), ("contract", "inspection"))))
    mid = ms(e, 1)
    failed = {**EVIDENCE["inspection"], "passed": False}
    await commands.submit_evidence(
        uow, clock, gateway, SUPPLIER, e.order_id, mid, "inspection", failed
    )
    await returns.reject_milestone(
        uow, clock, gateway, PLATFORM, e.order_id, mid, "return", ["x"], []
    )
    await returns.answer_rejection(uow, clock, gateway, SUPPLIER, e.order_id, mid, "return")
    await returns.ship_return(uow, clock, gateway, PLATFORM, e.order_id, mid, "DHL", "JD1", None)
    [timer] = deadline_timers(uow)
    async with uow:
        await timers.deadline_lapsed(uow, clock, e.order_id, "milestone", mid, timer.due_at, None)
        await uow.commit()
    after = uow.escrows.rows[e.order_id]
    refund = next(r for r in after.refunds if r.status == "pending")
    assert gateway.made("refund") == [] and after.milestone(mid).status == "refunding"
    assert refund.requested_by == "system:deadline"


async def test_a_partial_refund_by_consent_goes_through_stripe_exactly(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    e = uow.seed(funded(new_order((30_000, 40_001, 29_999))))
    mid = ms(e, 1)
    p = await returns.propose_partial_refund(
        uow, clock, gateway, SUPPLIER, e.order_id, "supplier", mid, 1_251, "late"
    )
    pid = p.refund_proposals[0].proposal_id
    assert any(t.payload["what"] == "refund_proposal" for t in deadline_timers(uow))
    with pytest.raises(WrongParty):  # not the proposer's to consent
        await returns.consent_partial_refund(
            uow, clock, gateway, SUPPLIER, e.order_id, "supplier", pid
        )
    done = await returns.consent_partial_refund(
        uow, clock, gateway, PLATFORM, e.order_id, "buyer", pid
    )
    [refund] = gateway.made("refund")
    assert refund["amount"] == 1_251
    assert done.refunded == 1_251 and done.milestone(mid).status == "awaiting_evidence"
    assert deadline_timers(uow) == []
    types = [env.type for env in uow.outbox.envelopes]
    assert types[-2:] == ["escrow.partial_refund_agreed", "escrow.refunded"] or (
        "escrow.refunded" in types and "escrow.partial_refund_agreed" in types
    )
