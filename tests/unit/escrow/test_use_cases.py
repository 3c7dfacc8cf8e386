"""Every escrow use case against the in-memory unit of work: what it commits, and that a
refused command commits nothing. No database, no Stripe: microseconds each."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.escrow.domain.errors import (
    InvalidAmount,
    InvalidOrder,
    InvalidTransition,
    UnknownDispute,
    UnknownMilestone,
)
from services.escrow.domain.model import Escrow
from services.escrow.domain.ordering import MilestoneSpec
from services.escrow.service_layer import commands, events, timers
from services.escrow.service_layer.commands import Caller, OrderTerms
from services.escrow.service_layer.decisions import (
    INSPECTION_TIMER,
    SETTLEMENT_TIMER,
    inspection_timer_key,
)
from services.escrow.service_layer.errors import OrderNotFound, PaymentNotSucceeded
from services.escrow.service_layer.gateway import GatewayRefused, GatewayUnavailable
from services.escrow.service_layer.stripe_events import (
    ChargeObject,
    PaymentIntentObject,
    StripeEvent,
)
from services.escrow.service_layer.unit_of_work import FeeTerms, OrderFilter
from shared.clock import ManualClock
from shared.events import Envelope
from shared.events.financing import LienReleaseRequested, LienRequested
from shared.metadata import DuplicateExternalReference, InvalidMetadata
from shared.pagination import InvalidCursor, Page
from shared.unit_of_work import CONFLICT_ATTEMPTS, Conflict
from tests.unit.escrow.builders import DAY, T0, funded, ms, new_order
from tests.unit.escrow.fakes import FakeEscrowUnitOfWork, FakeGateway

PLATFORM = Caller(tenant_id="t1", actor="apikey:platform")
FINANCE = Caller(tenant_id="t1", actor="apikey:finance")
OTHER_SUPPLIER = Caller(tenant_id="t1", actor="apikey:supplier-2", party="supplier-2")
OTHER_TENANT = Caller(tenant_id="t2", actor="apikey:t2")
TERMS = OrderTerms(
    buyer_id="buyer-1",
    supplier_id="supplier-1",
    supplier_account_id="acct_supplier1",
    currency="USD",
    total=100_000,
    milestones=[
        MilestoneSpec("contract", 30_000, "contract", 3 * 86_400),
        MilestoneSpec("shipment", 70_000, "shipment", 3 * 86_400),
    ],
)


@pytest.fixture
def uow() -> FakeEscrowUnitOfWork:
    return FakeEscrowUnitOfWork()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


def stored(uow: FakeEscrowUnitOfWork, order_id: str) -> Escrow:
    return uow.escrows.rows[order_id]


def unchanged(uow: FakeEscrowUnitOfWork, before: Escrow) -> bool:
    """Nothing committed since ``before`` was: same state, no event, no timeline entry."""
    return stored(uow, before.order_id) == before and uow.outbox.envelopes == []


# --- orders ----------------------------------------------------------------------------


async def test_create_order_commits_the_escrow_its_event_and_the_fee_policy_in_force(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    await commands.set_fee_policy(uow, FINANCE, FeeTerms(250, {"USD": 30}))
    seen: list[Escrow] = []
    escrow = await commands.create_order(uow, clock, PLATFORM, TERMS, seen.append)
    assert escrow.version == 1 and stored(uow, escrow.order_id) == escrow
    assert (escrow.platform_fee_bps, escrow.platform_fee_fixed) == (250, 30)
    assert uow.outbox.types() == ["escrow.order_created"]
    assert [r.actor for r in (await uow.escrows.timeline("t1", escrow.order_id, Page())).items] == [
        "apikey:platform"
    ]
    assert seen == [escrow] and uow.commits == 2


async def test_an_invalid_order_commits_nothing(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    bad = OrderTerms(**{**TERMS.__dict__, "total": 99_999})
    seen: list[Escrow] = []
    with pytest.raises(InvalidOrder):
        await commands.create_order(uow, clock, PLATFORM, bad, seen.append)
    assert uow.escrows.rows == {} and uow.outbox.envelopes == [] and uow.escrows.entries == []
    assert seen == [] and uow.commits == 0


async def test_an_order_is_seen_by_its_tenant_and_supplier_only(uow: FakeEscrowUnitOfWork) -> None:
    escrow = uow.seed(new_order())
    assert await commands.get_order(uow, PLATFORM, escrow.order_id) == escrow
    bound = Caller("t1", "apikey:s1", party="supplier-1")
    assert await commands.get_order(uow, bound, escrow.order_id) == escrow
    for stranger in (OTHER_SUPPLIER, OTHER_TENANT):
        with pytest.raises(OrderNotFound):
            await commands.get_order(uow, stranger, escrow.order_id)
        with pytest.raises(OrderNotFound):
            await commands.order_timeline(uow, stranger, escrow.order_id, Page())


async def test_orders_are_listed_newest_first_in_pages(uow: FakeEscrowUnitOfWork) -> None:
    made = [uow.seed(new_order().model_copy(update={"created_at": T0 + i * DAY})) for i in range(3)]
    first = await commands.list_orders(uow, PLATFORM, OrderFilter(), Page(limit=2))
    assert [e.order_id for e in first.items] == [made[2].order_id, made[1].order_id]
    assert first.has_more
    after = Page(limit=2, starting_after=first.items[-1].order_id)
    rest = await commands.list_orders(uow, PLATFORM, OrderFilter(), after)
    assert [e.order_id for e in rest.items] == [made[0].order_id] and not rest.has_more
    assert (await commands.list_orders(uow, OTHER_TENANT, OrderFilter(), Page())).items == []
    for foreign in ("not-an-order", made[0].order_id):  # the other tenant's is none of its own
        caller = PLATFORM if foreign == "not-an-order" else OTHER_TENANT
        with pytest.raises(InvalidCursor):
            await commands.list_orders(uow, caller, OrderFilter(), Page(starting_after=foreign))


async def test_cancel_refunds_what_is_held_inline(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    seen: list[Escrow] = []
    done = await commands.cancel_order(
        uow, clock, gateway, FINANCE, escrow.order_id, "changed mind", seen.append
    )
    assert done.status == "cancelled" and done.refunded == escrow.funded
    (refund,) = gateway.made("refund")
    assert refund["payment_intent_id"] == "pi_1" and refund["amount"] == escrow.funded
    assert [e.status for e in seen] == ["cancelled", "cancelled"]  # reservation, settlement
    assert seen[0].reserved == escrow.funded and seen[1].reserved == 0
    assert uow.commits == 2 and not any(k == SETTLEMENT_TIMER for k, _ in uow.timers.pending)
    assert "escrow.refunded" in uow.outbox.types()


async def test_cancelling_a_cancelled_order_is_refused_and_commits_nothing(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(new_order().model_copy(update={"status": "cancelled"}))
    with pytest.raises(InvalidTransition):
        await commands.cancel_order(uow, clock, gateway, FINANCE, escrow.order_id, "again")
    assert unchanged(uow, escrow) and uow.commits == 0 and gateway.calls == []


# --- funding ---------------------------------------------------------------------------


async def test_funding_reserves_asks_stripe_then_records_and_indexes_the_intent(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(new_order())
    answers: list[commands.FundingStarted] = []
    started = await commands.start_funding(
        uow, clock, gateway, PLATFORM, escrow.order_id, None, answers.append
    )
    (intent,) = gateway.made("payment_intent")
    assert intent["amount"] == escrow.total == started.amount
    assert intent["idempotency_key"] == f"escrow-fund-{started.payment_id}"
    assert answers == [started] and started.stripe_payment_intent_id == "pi_1"
    after = stored(uow, escrow.order_id)
    assert [(p.payment_id, p.status) for p in after.payments] == [(started.payment_id, "requested")]
    assert await uow.escrows.orders_of_payment_intent("pi_1") == [escrow.order_id]
    assert uow.outbox.types() == ["escrow.funding_requested"]


async def test_funding_stripe_refuses_records_nothing(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(new_order())
    gateway.fail["payment_intent"] = GatewayRefused("no such account")
    with pytest.raises(GatewayRefused):
        await commands.start_funding(uow, clock, gateway, PLATFORM, escrow.order_id)
    assert unchanged(uow, escrow) and uow.commits == 0


async def test_funding_more_than_is_outstanding_never_reaches_stripe(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    with pytest.raises(InvalidAmount):
        await commands.start_funding(uow, clock, gateway, PLATFORM, escrow.order_id, 1)
    assert gateway.calls == [] and unchanged(uow, escrow)


async def test_a_wire_funds_the_order_once_per_reference(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(new_order())
    done = await commands.confirm_wire(
        uow, clock, gateway, FINANCE, escrow.order_id, "W-1", escrow.total
    )
    assert done.status == "funded" and done.funded == escrow.total
    ends_at = done.milestones[0].inspection_ends_at
    assert ends_at is not None
    key = inspection_timer_key(escrow.order_id, ms(escrow, 0), ends_at)
    assert (INSPECTION_TIMER, key) in uow.timers.pending
    with pytest.raises(InvalidAmount):  # the order is fully funded
        await commands.confirm_wire(uow, clock, gateway, FINANCE, escrow.order_id, "W-2", 1)
    assert stored(uow, escrow.order_id) == done and uow.commits == 1


# --- milestones and disputes -----------------------------------------------------------


async def test_evidence_opens_the_inspection_window(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    details = {"document": "bill_of_lading", "number": "MAEU1", "carrier": "Maersk"}
    done = await commands.submit_evidence(
        uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 1), "shipment", details
    )
    assert done.milestones[1].status == "in_inspection"
    ends_at = done.milestones[1].inspection_ends_at
    assert ends_at is not None
    key = inspection_timer_key(escrow.order_id, ms(escrow, 1), ends_at)
    assert (INSPECTION_TIMER, key) in uow.timers.pending
    with pytest.raises(UnknownMilestone):
        await commands.submit_evidence(
            uow, clock, gateway, PLATFORM, escrow.order_id, "nope", "shipment", details
        )
    assert uow.commits == 1


async def test_acceptance_releases_and_pays_out_inline(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    seen: list[Escrow] = []
    done = await commands.accept_milestone(
        uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0), seen.append
    )
    assert done.milestones[0].status == "released" and done.released == 30_000
    (transfer,) = gateway.made("transfer")
    payout = done.payouts[0]
    assert transfer["idempotency_key"] == f"escrow-payout-{payout.payout_id}"
    assert payout.requested_by == "apikey:platform"
    assert [e.milestones[0].status for e in seen] == ["releasing", "released"]
    assert uow.outbox.types()[:2] == ["escrow.milestone_accepted", "escrow.milestone_released"]
    assert not any(kind == SETTLEMENT_TIMER for kind, _ in uow.timers.pending)


async def test_accepting_a_milestone_not_in_inspection_commits_nothing(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(new_order())  # not funded: no milestone in inspection
    with pytest.raises(InvalidTransition):
        await commands.accept_milestone(
            uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0)
        )
    assert unchanged(uow, escrow) and uow.commits == 0 and gateway.calls == []


async def test_another_suppliers_order_is_not_found_for_a_command(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    with pytest.raises(OrderNotFound):
        await commands.accept_milestone(
            uow, clock, gateway, OTHER_SUPPLIER, escrow.order_id, ms(escrow, 0)
        )
    assert unchanged(uow, escrow)


async def test_a_release_whose_transfer_was_refused_can_be_released_again(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    gateway.fail["transfer"] = GatewayRefused("account restricted")
    accepted = await commands.accept_milestone(
        uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0)
    )
    assert accepted.milestones[0].status == "accepted" and accepted.released == 0
    del gateway.fail["transfer"]
    done = await commands.release_milestone(
        uow, clock, gateway, FINANCE, escrow.order_id, ms(escrow, 0)
    )
    assert done.milestones[0].status == "released" and len(gateway.made("transfer")) == 2
    with pytest.raises(InvalidTransition):  # released already
        await commands.release_milestone(
            uow, clock, gateway, FINANCE, escrow.order_id, ms(escrow, 0)
        )


async def test_a_dispute_freezes_the_milestone_and_its_resolution_refunds(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    disputed = await commands.open_dispute(
        uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0), "damaged", ["photo-1"]
    )
    assert disputed.frozen == 30_000
    dispute_id = disputed.disputes[0].dispute_id
    done = await commands.resolve_dispute(
        uow, clock, gateway, FINANCE, escrow.order_id, dispute_id, "refund"
    )
    assert done.refunded == 30_000 and done.frozen == 0 and len(gateway.made("refund")) == 1
    commits = uow.commits
    with pytest.raises(UnknownDispute):
        await commands.resolve_dispute(
            uow, clock, gateway, FINANCE, escrow.order_id, "nope", "refund"
        )
    assert uow.commits == commits


async def test_a_dispute_after_the_window_is_refused(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    clock.advance(4 * DAY)
    with pytest.raises(InvalidTransition):
        await commands.open_dispute(
            uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0), "late", []
        )
    assert unchanged(uow, escrow)


# --- conflicts -------------------------------------------------------------------------


async def test_a_conflict_is_decided_again_on_fresh_state(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    uow.race.conflicts = 2
    seen: list[Escrow] = []
    done = await commands.accept_milestone(
        uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0), seen.append
    )
    assert uow.race.lost == 2 and done.milestones[0].status == "released"
    assert uow.outbox.types().count("escrow.milestone_accepted") == 1  # lost attempts left none
    assert len(seen) == 2  # a lost attempt never reached its commit: only the winners answer
    assert uow.commits == 2


async def test_a_conflict_that_persists_propagates_and_commits_nothing(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    uow.race.conflicts = CONFLICT_ATTEMPTS
    with pytest.raises(Conflict):
        await commands.accept_milestone(
            uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0)
        )
    assert uow.race.lost == CONFLICT_ATTEMPTS and unchanged(uow, escrow) and uow.commits == 0


# --- fee policy ------------------------------------------------------------------------


async def test_the_fee_policy_defaults_then_is_what_finance_set(
    uow: FakeEscrowUnitOfWork,
) -> None:
    assert await commands.get_fee_policy(uow, "t1") == FeeTerms(100, {})
    await commands.set_fee_policy(uow, FINANCE, FeeTerms(50, {"EUR": 25}))
    assert await commands.get_fee_policy(uow, "t1") == FeeTerms(50, {"EUR": 25})
    assert await commands.get_fee_policy(uow, "t2") == FeeTerms(100, {})
    assert uow.fee_policies.policies["t1"][1] == "apikey:finance"


# --- Stripe's webhook events -----------------------------------------------------------


def pi_succeeded(order: Escrow, pi_id: str, amount: int, event_id: str = "evt_1") -> StripeEvent:
    obj = PaymentIntentObject(
        id=pi_id,
        amount=amount,
        amount_received=amount,
        currency="usd",
        metadata={"order_id": order.order_id},
    )
    return StripeEvent(event_id, "payment_intent.succeeded", obj)


async def funding_started(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> tuple[Escrow, commands.FundingStarted]:
    escrow = uow.seed(new_order())
    started = await commands.start_funding(uow, clock, gateway, PLATFORM, escrow.order_id)
    uow.outbox.envelopes.clear()
    return escrow, started


async def test_a_payment_succeeding_funds_its_order_once(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, started = await funding_started(uow, clock, gateway)
    event = pi_succeeded(escrow, started.stripe_payment_intent_id, started.amount)
    outcome = await commands.apply_stripe_event(uow, clock, FakeGateway(), event)
    assert outcome == commands.WebhookOutcome(handled=True)
    funded_now = stored(uow, escrow.order_id)
    assert funded_now.status == "funded" and funded_now.funded == escrow.total
    timeline = (await uow.escrows.timeline("t1", escrow.order_id, Page())).items
    assert timeline[-1].actor == "stripe:webhook"
    again = await commands.apply_stripe_event(uow, clock, FakeGateway(), event)
    assert again == commands.WebhookOutcome(duplicate=True)
    assert stored(uow, escrow.order_id) == funded_now


async def test_a_refund_before_its_payment_succeeded_is_deferred_unclaimed(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, started = await funding_started(uow, clock, gateway)
    charge = ChargeObject(id="ch_1", payment_intent=started.stripe_payment_intent_id)
    event = StripeEvent("evt_early", "charge.refunded", charge)
    before = stored(uow, escrow.order_id)
    with pytest.raises(PaymentNotSucceeded):
        await commands.apply_stripe_event(uow, clock, FakeGateway(), event)
    assert unchanged(uow, before) and uow.stripe_events.claimed == set()


async def test_an_unknown_payment_intent_is_acknowledged_and_claimed(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    escrow = uow.seed(new_order())
    outcome = await commands.apply_stripe_event(
        uow, clock, FakeGateway(), pi_succeeded(escrow, "pi_x", 1)
    )
    assert outcome == commands.WebhookOutcome(handled=False, error="unknown_payment_intent")
    assert unchanged(uow, escrow) and uow.stripe_events.claimed == {"evt_1"}


async def test_an_event_type_escrow_does_not_handle_is_left_alone(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    outcome = await commands.apply_stripe_event(
        uow, clock, FakeGateway(), StripeEvent("e", "customer.created", None)
    )
    assert outcome == commands.WebhookOutcome(handled=False) and uow.commits == 0


# --- financing's lien commands ---------------------------------------------------------


def lien_command(escrow: Escrow, event: Any, tenant: str = "t1") -> Envelope:
    return Envelope.wrap(event, source="financing", tenant_id=tenant, subject=escrow.order_id)


async def test_a_batch_places_and_releases_liens_and_refuses_unknown_orders(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    escrow = uow.seed(funded(new_order()))
    missing = new_order()
    batch = [
        lien_command(escrow, LienRequested(
            order_id=escrow.order_id, advance_id="adv-1", amount=10_000, currency="USD",
            supplier_id="supplier-1",
        )),
        lien_command(escrow, LienReleaseRequested(
            order_id=escrow.order_id, advance_id="adv-1", reason="repaid",
        )),
        lien_command(missing, LienRequested(
            order_id=missing.order_id, advance_id="adv-2", amount=1, currency="USD",
            supplier_id="supplier-1",
        )),
    ]  # fmt: skip
    async with uow:
        failures = await events.apply_lien_commands(uow, clock, batch)
        await uow.commit()
    assert failures == {}
    assert uow.outbox.types() == [
        "escrow.lien_placed",
        "escrow.lien_released",
        "escrow.lien_refused",
    ]
    after = stored(uow, escrow.order_id)
    assert after.version == 2 and after.released_advances == ("adv-1",)
    assert after.lien is not None and after.lien.status == "released"
    assert uow.escrows.locked == {escrow.order_id, missing.order_id}


async def test_a_lien_command_that_cannot_be_decided_stops_its_order_only(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    escrow = uow.seed(funded(new_order()))
    other = uow.seed(funded(new_order()))
    invalid = Envelope(
        type=LienRequested.event_type, version=1, source="financing", tenant_id="t1",
        subject=escrow.order_id, correlation_id=uuid4(), data={"order_id": escrow.order_id},
    )  # fmt: skip
    behind = lien_command(escrow, LienReleaseRequested(
        order_id=escrow.order_id, advance_id="adv-0", reason="repaid",
    ))  # fmt: skip
    fine = lien_command(other, LienRequested(
        order_id=other.order_id, advance_id="adv-2", amount=1_000, currency="USD",
        supplier_id="supplier-1",
    ))  # fmt: skip
    async with uow:
        failures = await events.apply_lien_commands(uow, clock, [invalid, behind, fine])
        await uow.commit()
    assert set(failures) == {invalid.id}
    assert stored(uow, escrow.order_id) == escrow  # nor was the command behind it applied
    assert stored(uow, other.order_id).lien is not None
    assert uow.outbox.types() == ["escrow.lien_placed"]


# --- timers ----------------------------------------------------------------------------


async def test_the_window_lapsing_accepts_and_reserves_a_payout_the_settlement_timer_pays(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    ends = escrow.milestones[0].inspection_ends_at
    assert ends is not None
    async with uow:
        await timers.inspection_window_lapsed(
            uow, clock, escrow.order_id, ms(escrow, 0), ends, None
        )
        await uow.commit()
    accepted = stored(uow, escrow.order_id)
    payout = accepted.payouts[0]
    assert accepted.milestones[0].status == "releasing"
    assert payout.requested_by == timers.ACTOR
    due = uow.timers.pending[(SETTLEMENT_TIMER, payout.payout_id)]
    assert due.due_at == clock.now() + timedelta(0) and gateway.calls == []
    async with uow:
        await timers.settlement_due(uow, clock, gateway, escrow.order_id, payout.payout_id, None)
        await uow.commit()
    assert stored(uow, escrow.order_id).milestones[0].status == "released"
    assert (SETTLEMENT_TIMER, payout.payout_id) not in uow.timers.pending
    assert len(gateway.made("transfer")) == 1


async def test_a_window_still_open_changes_nothing(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    escrow = uow.seed(funded(new_order()))
    async with uow:
        await timers.inspection_window_lapsed(
            uow, clock, escrow.order_id, ms(escrow, 0), T0 + DAY, None
        )
        await uow.commit()
    assert unchanged(uow, escrow)


async def test_a_settlement_stripe_cannot_take_now_raises_for_the_timer_to_retry(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    ends = escrow.milestones[0].inspection_ends_at
    assert ends is not None
    async with uow:
        await timers.inspection_window_lapsed(
            uow, clock, escrow.order_id, ms(escrow, 0), ends, None
        )
        await uow.commit()
    reserved = stored(uow, escrow.order_id)
    gateway.fail["transfer"] = GatewayUnavailable("stripe is down")
    with pytest.raises(GatewayUnavailable):
        async with uow:
            await timers.settlement_due(
                uow, clock, gateway, escrow.order_id, reserved.payouts[0].payout_id, None
            )
            await uow.commit()
    assert stored(uow, escrow.order_id) == reserved


# --- the platform's own data -----------------------------------------------------------


async def test_an_order_keeps_the_platforms_metadata_and_reference_and_patch_merges(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    terms = OrderTerms(**{**TERMS.__dict__, "metadata": {"a": "1", "b": "2", "c": ""}})
    terms = OrderTerms(**{**terms.__dict__, "external_reference": "PO-1"})
    escrow = await commands.create_order(uow, clock, PLATFORM, terms)
    assert escrow.metadata == {"a": "1", "b": "2"} and escrow.external_reference == "PO-1"
    changes = commands.PlatformData(metadata={"b": "", "d": "4"}, external_reference="PO-2")
    patched = await commands.update_order(uow, clock, PLATFORM, escrow.order_id, changes)
    assert patched.metadata == {"a": "1", "d": "4"} and patched.external_reference == "PO-2"
    # The trade is the same, but the platform hears of its own data changing.
    assert uow.outbox.types() == ["escrow.order_created", "escrow.order_updated"]
    updated = uow.outbox.envelopes[-1].payload()
    assert updated.metadata == {"a": "1", "d": "4"}  # type: ignore[attr-defined]
    assert updated.external_reference == "PO-2"  # type: ignore[attr-defined]
    assert updated.changed == ["metadata", "external_reference"]  # type: ignore[attr-defined]
    cleared = await commands.update_order(
        uow, clock, PLATFORM, escrow.order_id, commands.PlatformData(clear_reference=True)
    )
    assert cleared.external_reference is None and cleared.metadata == patched.metadata
    assert uow.outbox.envelopes[-1].payload().changed == ["external_reference"]  # type: ignore[attr-defined]
    same = commands.PlatformData(metadata={"a": "1"})  # changes nothing: no event
    await commands.update_order(uow, clock, PLATFORM, escrow.order_id, same)
    assert len(uow.outbox.types()) == 3
    found = await commands.list_orders(
        uow, PLATFORM, OrderFilter(external_reference="PO-2"), Page()
    )
    assert found.items == []


async def test_a_reference_is_unique_per_tenant_and_a_duplicate_changes_nothing(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    terms = OrderTerms(**{**TERMS.__dict__, "external_reference": "PO-1"})
    first = await commands.create_order(uow, clock, PLATFORM, terms)
    with pytest.raises(DuplicateExternalReference):
        await commands.create_order(uow, clock, PLATFORM, terms)
    other = await commands.create_order(uow, clock, OTHER_TENANT, terms)  # its own namespace
    assert other.external_reference == "PO-1"
    second = await commands.create_order(uow, clock, PLATFORM, TERMS)
    with pytest.raises(DuplicateExternalReference):
        await commands.update_order(
            uow,
            clock,
            PLATFORM,
            second.order_id,
            commands.PlatformData(external_reference="PO-1", metadata={"x": "y"}),
        )
    assert stored(uow, second.order_id) == second and stored(uow, first.order_id) == first


async def test_bad_metadata_and_another_tenants_order_are_refused_on_patch(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    escrow = await commands.create_order(uow, clock, PLATFORM, TERMS)
    with pytest.raises(InvalidMetadata):
        await commands.update_order(
            uow, clock, PLATFORM, escrow.order_id, commands.PlatformData(metadata={"k": 1})
        )
    with pytest.raises(OrderNotFound):
        await commands.update_order(
            uow, clock, OTHER_TENANT, escrow.order_id, commands.PlatformData()
        )
    assert stored(uow, escrow.order_id) == escrow


async def test_an_order_in_percentages_is_split_to_the_cent(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    terms = OrderTerms(
        **{
            **TERMS.__dict__,
            "total": 100_001,
            "milestones": [
                MilestoneSpec("deposit", None, "contract", 0, percent_bps=3_000),
                MilestoneSpec("ship", None, "shipment", 0, percent_bps=7_000),
            ],
        }
    )
    escrow = await commands.create_order(uow, clock, PLATFORM, terms)
    assert [m.amount for m in escrow.milestones] == [30_000, 70_001]
