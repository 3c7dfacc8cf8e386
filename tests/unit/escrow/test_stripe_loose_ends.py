"""Stripe loose ends (issue 11 part 4) against the in-memory unit of work and gateway: an
overpayment refunded in the webhook's own handling, ``charge.dispute.closed``."""

from __future__ import annotations

import pytest

from services.escrow.domain.funding import record_funding
from services.escrow.domain.model import Escrow
from services.escrow.domain.payouts import source_charge
from services.escrow.domain.refunds import record_external_refund
from services.escrow.service_layer import commands, operations, timers
from services.escrow.service_layer.commands import Caller
from services.escrow.service_layer.decisions import SETTLEMENT_TIMER
from services.escrow.service_layer.errors import ChargebackNotOpened
from services.escrow.service_layer.gateway import GatewayRefused, GatewayUnavailable
from services.escrow.service_layer.operations import alert_id
from services.escrow.service_layer.settlement import RefundRefused
from services.escrow.service_layer.stripe_events import (
    ChargeObject,
    DisputeObject,
    PaymentIntentObject,
    RefundList,
    RefundObject,
    StripeEvent,
    excess_refund_id,
)
from shared.clock import ManualClock
from tests.unit.escrow.builders import T0, funded, ms, new_order
from tests.unit.escrow.fakes import FakeEscrowUnitOfWork, FakeGateway

PLATFORM = Caller(tenant_id="t1", actor="apikey:platform")


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


def succeeded(pi_id: str, amount: int, event_id: str) -> StripeEvent:
    obj = PaymentIntentObject(id=pi_id, amount=amount, amount_received=amount, currency="usd")
    return StripeEvent(event_id, "payment_intent.succeeded", obj)


async def two_intents_for_the_whole_total(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> tuple[Escrow, str, str]:
    escrow = uow.seed(new_order())
    first = await commands.start_funding(uow, clock, gateway, PLATFORM, escrow.order_id)
    second = await commands.start_funding(uow, clock, gateway, PLATFORM, escrow.order_id)
    ok = await commands.apply_stripe_event(
        uow, clock, gateway, succeeded(first.stripe_payment_intent_id, escrow.total, "evt_a")
    )
    assert ok.handled
    uow.outbox.envelopes.clear()
    return escrow, first.stripe_payment_intent_id, second.stripe_payment_intent_id


async def test_an_overpayment_is_refunded_in_the_same_webhook_handling(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, _, second_pi = await two_intents_for_the_whole_total(uow, clock, gateway)
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, succeeded(second_pi, escrow.total, "evt_b")
    )
    assert outcome == commands.WebhookOutcome(handled=True)
    (refund,) = gateway.made("refund")
    refund_id = excess_refund_id("evt_b")
    assert refund["payment_intent_id"] == second_pi and refund["amount"] == escrow.total
    assert refund["idempotency_key"] == f"escrow-refund-{refund_id}"
    after = stored(uow, escrow.order_id)
    # Holding only the contract total once the webhook is answered, nothing left reserved.
    assert after.held == escrow.total and after.reserved == 0
    assert after.funded == 2 * escrow.total and after.refunded == escrow.total
    assert uow.outbox.types() == ["escrow.funded", "escrow.refunded"]
    refunded = uow.outbox.envelopes[-1]
    assert str(refunded.id) == refund_id and refunded.data["stripe_refund_id"] == "re_3"
    assert (SETTLEMENT_TIMER, refund_id) not in uow.timers.pending


async def test_an_overpayment_stripe_cannot_refund_now_is_left_to_the_settlement_timer(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, _, second_pi = await two_intents_for_the_whole_total(uow, clock, gateway)
    gateway.fail["refund"] = GatewayUnavailable("stripe down")
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, succeeded(second_pi, escrow.total, "evt_b")
    )
    assert outcome.handled
    after = stored(uow, escrow.order_id)
    assert after.reserved == escrow.total and after.available == escrow.total
    assert (SETTLEMENT_TIMER, excess_refund_id("evt_b")) in uow.timers.pending


# --- charge.dispute.closed ---------------------------------------------------------------


def dispute(event_type: str, event_id: str, status: str | None = None) -> StripeEvent:
    obj = DisputeObject(
        id="dp_1", amount=50_000, payment_intent="pi_1", currency="usd", status=status
    )
    return StripeEvent(event_id, event_type, obj)


async def charged_back(uow: FakeEscrowUnitOfWork, clock: ManualClock) -> Escrow:
    escrow = uow.seed(funded(new_order()))
    await uow.escrows.index_payment_intent("pi_1", escrow)
    opened = await commands.apply_stripe_event(
        uow, clock, FakeGateway(), dispute("charge.dispute.created", "evt_open")
    )
    assert opened.handled and stored(uow, escrow.order_id).frozen == 50_000
    uow.outbox.envelopes.clear()
    return escrow


async def test_a_won_chargeback_unfreezes_the_escrow_once(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = await charged_back(uow, clock)
    won = await commands.apply_stripe_event(
        uow, clock, gateway, dispute("charge.dispute.closed", "evt_won", "won")
    )
    assert won.handled
    after = stored(uow, escrow.order_id)
    assert after.frozen == 0 and after.held == escrow.total and after.refunded == 0
    (closed,) = after.disputes
    assert (closed.status, closed.outcome, closed.stripe_status) == ("resolved", "release", "won")
    assert uow.outbox.types() == ["escrow.dispute_resolved"]
    again = await commands.apply_stripe_event(
        uow, clock, gateway, dispute("charge.dispute.closed", "evt_won_again", "won")
    )
    assert again.handled and stored(uow, escrow.order_id) == after


async def test_a_lost_chargeback_books_the_refund_the_bank_kept_without_a_stripe_call(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = await charged_back(uow, clock)
    lost = await commands.apply_stripe_event(
        uow, clock, gateway, dispute("charge.dispute.closed", "evt_lost", "lost")
    )
    assert lost.handled and gateway.calls == []
    after = stored(uow, escrow.order_id)
    assert after.frozen == 0 and after.refunded == 50_000 and after.reserved == 0
    assert after.disputes[0].stripe_status == "lost"
    # What the bank kept can no longer pay the latest milestones: settled unpaid.
    assert (
        uow.outbox.types()
        == ["escrow.dispute_resolved", "escrow.refunded"] + ["escrow.milestone_settled_unpaid"] * 2
    )
    assert [m.unfunded_amount for m in after.milestones] == [0, 20_000, 30_000]


async def test_a_chargeback_finance_resolved_the_other_way_is_reported_not_rebooked(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = await charged_back(uow, clock)
    finance = Caller(tenant_id="t1", actor="apikey:finance")
    dispute_id = stored(uow, escrow.order_id).disputes[0].dispute_id
    await commands.resolve_dispute(
        uow, clock, gateway, finance, escrow.order_id, dispute_id, "release"
    )
    before = stored(uow, escrow.order_id)
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, dispute("charge.dispute.closed", "evt_lost", "lost")
    )
    assert outcome == commands.WebhookOutcome(handled=False, error="invalid_transition")
    assert stored(uow, escrow.order_id) == before


async def test_a_closed_chargeback_escrow_never_saw_open_is_deferred_unclaimed(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    await uow.escrows.index_payment_intent("pi_1", escrow)
    with pytest.raises(ChargebackNotOpened):
        await commands.apply_stripe_event(
            uow, clock, gateway, dispute("charge.dispute.closed", "evt_won", "won")
        )
    assert uow.stripe_events.claimed == set()


# --- transfers from the funding charge (source_transaction) ---------------------------


def paid(escrow: Escrow, *parts: tuple[str, int, str | None]) -> Escrow:
    """``escrow`` funded by payments (payment id, amount, charge id; None: a wire)."""
    for payment_id, amount, charge in parts:
        method = "stripe" if charge else "wire"
        escrow, _ = record_funding(
            escrow, payment_id, amount, method, T0,
            stripe_payment_intent_id=f"pi_{payment_id}" if charge else None,
            stripe_charge_id=charge,
        )  # fmt: skip
    return escrow


async def test_a_payout_is_transferred_from_the_charge_that_funded_the_whole_order(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(paid(new_order(), ("pay-1", 100_000, "ch_whole")))
    for m in escrow.milestones[:2]:
        await commands.accept_milestone(
            uow, clock, gateway, PLATFORM, escrow.order_id, m.milestone_id
        )
    transfers = gateway.made("transfer")
    assert [t["source_transaction"] for t in transfers] == ["ch_whole", "ch_whole"]
    after = stored(uow, escrow.order_id)
    assert {p.source_charge_id for p in after.payouts} == {"ch_whole"}


@pytest.mark.parametrize(
    "parts",
    [
        (("pay-1", 60_000, "ch_a"), ("pay-2", 40_000, "ch_b")),  # in parts: no one charge
        (("wire-1", 100_000, None),),  # a wire: no charge at all
    ],
)
async def test_a_payout_without_a_whole_order_charge_is_made_from_the_balance(
    uow: FakeEscrowUnitOfWork,
    clock: ManualClock,
    gateway: FakeGateway,
    parts: tuple[tuple[str, int, str | None], ...],
) -> None:
    escrow = uow.seed(paid(new_order(), *parts))
    await commands.accept_milestone(uow, clock, gateway, PLATFORM, escrow.order_id, ms(escrow, 0))
    (transfer,) = gateway.made("transfer")
    assert transfer["source_transaction"] is None


def test_the_funding_charge_is_not_named_for_more_than_it_has_left() -> None:
    escrow = paid(new_order(), ("pay-1", 100_000, "ch_whole"))
    escrow, _ = record_external_refund(escrow, "pay-1", "re_dash", 95_000)
    assert source_charge(escrow, 5_000) == "ch_whole"
    assert source_charge(escrow, 5_001) is None


# --- a refund Stripe keeps refusing ----------------------------------------------------


async def refused_refund(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> tuple[Escrow, str]:
    """A cancelled order whose refund Stripe refuses (inline, then at every timer attempt)."""
    escrow = uow.seed(funded(new_order()))
    gateway.fail["refund"] = GatewayRefused("charge_disputed: the charge was disputed")
    cancelled = await commands.cancel_order(uow, clock, gateway, PLATFORM, escrow.order_id, "x")
    (refund,) = cancelled.refunds
    assert refund.status == "pending" and cancelled.reserved == escrow.total
    uow.outbox.envelopes.clear()
    return escrow, refund.refund_id


async def timer_attempt(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway, order_id: str, rid: str
) -> None:
    """What the settlement timer's handler does: the attempt, then the refusal counted."""
    try:
        async with uow:
            await timers.settlement_due(uow, clock, gateway, order_id, rid, None)
            await uow.commit()
    except RefundRefused as refused:
        await operations.refund_refused(uow, clock, order_id, rid, refused.message, 3)


async def test_a_refund_stripe_keeps_refusing_raises_one_alert_and_lists_until_it_goes_through(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, rid = await refused_refund(uow, clock, gateway)
    for _ in range(2):
        await timer_attempt(uow, clock, gateway, escrow.order_id, rid)
    assert uow.outbox.envelopes == []
    assert await operations.stuck_refunds(uow, "t1", 50) == []  # not yet N attempts
    for _ in range(2):  # the third refusal alerts, the fourth does not again
        await timer_attempt(uow, clock, gateway, escrow.order_id, rid)
    (alert,) = uow.outbox.envelopes
    assert alert.type == "escrow.refund_stuck" and str(alert.id) == alert_id("refund_stuck", rid)
    assert alert.data["attempts"] == 3 and "charge_disputed" in alert.data["last_error"]
    (stuck,) = await operations.stuck_refunds(uow, "t1", 50)
    assert (stuck.refund_id, stuck.attempts, stuck.amount) == (rid, 4, escrow.total)
    assert await operations.stuck_refunds(uow, "t2", 50) == []  # another tenant's: none
    assert stored(uow, escrow.order_id).reserved == escrow.total  # still reserved, retried
    del gateway.fail["refund"]
    await timer_attempt(uow, clock, gateway, escrow.order_id, rid)
    assert stored(uow, escrow.order_id).refunded == escrow.total
    assert await operations.stuck_refunds(uow, "t1", 50) == []


async def test_an_unreachable_stripe_is_not_counted_as_a_refusal(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, rid = await refused_refund(uow, clock, gateway)
    gateway.fail["refund"] = GatewayUnavailable("stripe down")
    for _ in range(4):
        with pytest.raises(GatewayUnavailable):
            await timer_attempt(uow, clock, gateway, escrow.order_id, rid)
    assert uow.refund_alerts.stuck_rows == {} and uow.outbox.envelopes == []


# --- a refund made outside Tradeflow that escrow cannot book ----------------------------


def dashboard_refund(event_id: str, amount: int) -> StripeEvent:
    refund = RefundObject(id="re_dashboard", amount=amount, currency="usd")
    charge = ChargeObject(id="ch_1", payment_intent="pi_1", refunds=RefundList(data=[refund]))
    return StripeEvent(event_id, "charge.refunded", charge)


async def test_an_external_refund_beyond_what_is_free_is_a_break_finance_sees_once(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = await charged_back(uow, clock)  # 50,000 of 100,000 frozen: 50,000 free
    before = stored(uow, escrow.order_id)
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, dashboard_refund("evt_r1", 60_000)
    )
    assert outcome == commands.WebhookOutcome(handled=False, error="insufficient_funds")
    assert stored(uow, escrow.order_id) == before  # nothing booked
    (unbooked,) = uow.outbox.envelopes
    assert unbooked.type == "escrow.external_refund_unbooked"
    assert (unbooked.data["amount"], unbooked.data["bookable"]) == (60_000, 50_000)
    (found,) = await operations.refund_breaks(uow, "t1", 50)
    assert (found.stripe_refund_id, found.reason, found.stripe_event_id) == (
        "re_dashboard",
        "insufficient_funds",
        "evt_r1",
    )
    # Stripe reports the same refund again (a later charge.refunded): still one break.
    again = await commands.apply_stripe_event(
        uow, clock, gateway, dashboard_refund("evt_r2", 60_000)
    )
    assert again.error == "insufficient_funds" and len(uow.outbox.envelopes) == 1
    assert len(await operations.refund_breaks(uow, "t1", 50)) == 1


async def test_an_external_refund_beyond_its_payment_is_a_break_too(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow = uow.seed(funded(new_order()))
    await uow.escrows.index_payment_intent("pi_1", escrow)
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, dashboard_refund("evt_r1", escrow.total + 1)
    )
    assert outcome.error == "invalid_amount"
    (found,) = await operations.refund_breaks(uow, "t1", 50)
    assert (found.reason, found.bookable) == ("invalid_amount", escrow.total)


# --- finance works the operations records ---------------------------------------------


async def test_finance_abandons_a_stuck_refund_returned_offline_with_an_audit_trail(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    escrow, rid = await refused_refund(uow, clock, gateway)
    with pytest.raises(operations.StuckRefundNotFound):  # not stuck yet: nothing to abandon
        await operations.abandon_stuck_refund(
            uow, clock, "t1", "apikey:finance", rid, "returned_offline", "wired back"
        )
    for _ in range(3):
        await timer_attempt(uow, clock, gateway, escrow.order_id, rid)
    with pytest.raises(operations.StuckRefundNotFound):  # another tenant's
        await operations.abandon_stuck_refund(
            uow, clock, "t2", "apikey:finance", rid, "returned_offline", "x"
        )
    uow.outbox.envelopes.clear()
    done = await operations.abandon_stuck_refund(
        uow, clock, "t1", "apikey:finance", rid, "returned_offline", "wired back on 3 March"
    )
    after = stored(uow, escrow.order_id)
    assert after.refunded == escrow.total and after.reserved == 0
    refund = next(r for r in after.refunds if r.refund_id == rid)
    assert (refund.status, refund.via_stripe, refund.stripe_refund_id) == ("done", False, None)
    assert uow.outbox.types()[:2] == ["escrow.refunded", "escrow.refund_abandoned"]
    abandoned = uow.outbox.envelopes[1].data
    assert abandoned["resolution"] == "returned_offline" and abandoned["by"] == "apikey:finance"
    assert (done.resolution, done.resolved_by, done.note) == (
        "returned_offline",
        "apikey:finance",
        "wired back on 3 March",
    )
    assert await operations.stuck_refunds(uow, "t1", 50) == []
    with pytest.raises(operations.StuckRefundNotFound):  # once
        await operations.abandon_stuck_refund(
            uow, clock, "t1", "apikey:finance", rid, "returned_offline", "again"
        )


async def test_finance_resolves_a_refund_break_once_and_it_leaves_the_open_list(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await charged_back(uow, clock)
    await commands.apply_stripe_event(uow, clock, gateway, dashboard_refund("evt_r1", 60_000))
    uow.outbox.envelopes.clear()
    with pytest.raises(operations.RefundBreakNotFound):
        await operations.resolve_refund_break(
            uow, clock, "t2", "apikey:finance", "re_dashboard", "recovered", "x"
        )
    done = await operations.resolve_refund_break(
        uow, clock, "t1", "apikey:finance", "re_dashboard", "recovered", "buyer paid it back"
    )
    assert (done.resolution, done.resolved_by) == ("recovered", "apikey:finance")
    assert uow.outbox.types() == ["escrow.refund_break_resolved"]
    assert await operations.refund_breaks(uow, "t1", 50, status="open") == []
    assert len(await operations.refund_breaks(uow, "t1", 50)) == 1  # kept, resolved
    with pytest.raises(operations.RefundBreakNotFound):
        await operations.resolve_refund_break(
            uow, clock, "t1", "apikey:finance", "re_dashboard", "recovered", "again"
        )
