"""Stripe loose ends (issue 11 part 4) against the in-memory unit of work and gateway: an
overpayment refunded in the webhook's own handling, ``charge.dispute.closed``."""

from __future__ import annotations

import pytest

from services.escrow.domain.funding import record_funding
from services.escrow.domain.model import Escrow
from services.escrow.domain.payouts import source_charge
from services.escrow.domain.refunds import record_external_refund
from services.escrow.service_layer import commands
from services.escrow.service_layer.commands import Caller
from services.escrow.service_layer.decisions import SETTLEMENT_TIMER
from services.escrow.service_layer.errors import ChargebackNotOpened
from services.escrow.service_layer.gateway import GatewayUnavailable
from services.escrow.service_layer.stripe_events import (
    DisputeObject,
    PaymentIntentObject,
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
    assert uow.outbox.types() == ["escrow.dispute_resolved", "escrow.refunded"]


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
