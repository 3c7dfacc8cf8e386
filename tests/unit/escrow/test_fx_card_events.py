"""Card events on a payment in the funding currency (docs/fx.md): Stripe refunds and
chargebacks count in the charge's currency (EUR here), the escrow in the contract's (USD).

A refund made in Stripe's dashboard or a chargeback takes its share of the contract at the
payment's locked conversion (``funding_share``), and what it books back returns exactly the
EUR Stripe moved, so the ledger's EUR clearing and disputed funds empty to the cent."""

from __future__ import annotations

import pytest

from services.escrow.service_layer import commands, operations
from services.escrow.service_layer.stripe_events import (
    ChargeObject,
    DisputeObject,
    RefundList,
    RefundObject,
    StripeEvent,
)
from shared.clock import ManualClock
from shared.events.escrow import Refunded
from tests.unit.escrow.builders import T0
from tests.unit.escrow.fakes import FakeEscrowUnitOfWork, FakeGateway
from tests.unit.escrow.test_fx_use_cases import T, funded_in_eur, published

CHARGED = 92_698  # EUR charged for the USD 100,000 contract


@pytest.fixture
def uow() -> FakeEscrowUnitOfWork:
    return FakeEscrowUnitOfWork()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


def dashboard_refund(pi_id: str, event_id: str, *refunds: tuple[str, int, str]) -> StripeEvent:
    data = [RefundObject(id=rid, amount=amount, currency=ccy) for rid, amount, ccy in refunds]
    charge = ChargeObject(id="ch_eur", payment_intent=pi_id, refunds=RefundList(data=data))
    return StripeEvent(event_id, "charge.refunded", charge)


def chargeback(
    pi_id: str, event_type: str, event_id: str, amount: int, status: str | None = None
) -> StripeEvent:
    obj = DisputeObject(
        id="dp_eur", amount=amount, payment_intent=pi_id, currency="eur", status=status
    )
    return StripeEvent(event_id, event_type, obj)


async def lose_chargeback(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway, amount: int
) -> tuple[str, list[Refunded]]:
    order_id, started = await funded_in_eur(uow, clock, gateway)
    pi = started.stripe_payment_intent_id
    opened = await commands.apply_stripe_event(
        uow, clock, gateway, chargeback(pi, "charge.dispute.created", "evt_dp", amount)
    )
    assert opened.handled, opened
    uow.outbox.envelopes.clear()
    lost = await commands.apply_stripe_event(
        uow, clock, gateway, chargeback(pi, "charge.dispute.closed", "evt_lost", amount, "lost")
    )
    assert lost.handled, lost
    assert gateway.made("refund") == []  # the bank took it: nothing to ask Stripe for
    return order_id, published(uow, Refunded)


async def test_a_whole_chargeback_lost_returns_exactly_the_eur_the_bank_took(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, refunds = await lose_chargeback(uow, clock, gateway, CHARGED)
    escrow = uow.escrows.rows[order_id]
    assert escrow.refunded == 100_000 and escrow.held == 0 and escrow.frozen == 0
    assert sum(r.amount for r in refunds) == 100_000
    assert all(r.fx is not None and r.fx.to_currency == "EUR" for r in refunds)
    assert sum(r.fx.to_amount for r in refunds if r.fx) == CHARGED
    assert {r.reason for r in refunds} == {"chargeback"}


async def test_a_partial_chargeback_lost_returns_exactly_its_eur_not_the_payment_share(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    # EUR 40,002 of the 92,698 is USD 43,153 (half-even of 100,000 x 40,002 / 92,698);
    # the payment's own reversal of USD 43,153 would give back EUR 40,001.
    order_id, refunds = await lose_chargeback(uow, clock, gateway, 40_002)
    assert sum(r.amount for r in refunds) == 43_153
    assert sum(r.fx.to_amount for r in refunds if r.fx) == 40_002
    escrow = uow.escrows.rows[order_id]
    (payment,) = escrow.payments
    assert (payment.refunded, payment.returned) == (43_153, 40_002)
    assert escrow.disputes[0].claimed == 43_153


async def test_a_chargeback_in_the_contract_currency_of_an_eur_payment_is_refused(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, started = await funded_in_eur(uow, clock, gateway)
    before = uow.escrows.rows[order_id]
    obj = DisputeObject(
        id="dp_usd", amount=1_000, payment_intent=started.stripe_payment_intent_id, currency="usd"
    )
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, StripeEvent("evt_dp", "charge.dispute.created", obj)
    )
    assert outcome.error == "currency_mismatch"
    assert uow.escrows.rows[order_id] == before


async def test_dashboard_refunds_in_eur_take_their_share_and_the_last_empties_both_sides(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, started = await funded_in_eur(uow, clock, gateway)
    pi = started.stripe_payment_intent_id
    uow.outbox.envelopes.clear()
    first = await commands.apply_stripe_event(
        uow, clock, gateway, dashboard_refund(pi, "evt_r1", ("re_1", 10_000, "eur"))
    )
    assert first.handled, first
    (r1,) = published(uow, Refunded)
    assert r1.amount == 10_788 and r1.fx is not None
    assert (r1.fx.from_currency, r1.fx.to_currency, r1.fx.to_amount) == ("USD", "EUR", 10_000)
    # Stripe lists every refund of the charge on each charge.refunded: re_1 again, once.
    rest = CHARGED - 10_000
    second = await commands.apply_stripe_event(
        uow,
        clock,
        gateway,
        dashboard_refund(pi, "evt_r2", ("re_1", 10_000, "eur"), ("re_2", rest, "eur")),
    )
    assert second.handled, second
    r1_again, r2 = published(uow, Refunded)
    assert r1_again == r1 and r2.amount == 100_000 - 10_788
    assert r2.fx is not None and r2.fx.to_amount == rest
    escrow = uow.escrows.rows[order_id]
    (payment,) = escrow.payments
    assert (payment.refunded, payment.returned) == (100_000, CHARGED)
    assert escrow.held == 0


async def test_a_dashboard_refund_in_usd_of_an_eur_charge_is_refused(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, started = await funded_in_eur(uow, clock, gateway)
    before = uow.escrows.rows[order_id]
    outcome = await commands.apply_stripe_event(
        uow,
        clock,
        gateway,
        dashboard_refund(started.stripe_payment_intent_id, "evt_r", ("re_1", 1_000, "usd")),
    )
    assert outcome.error == "currency_mismatch"
    assert uow.escrows.rows[order_id] == before


@pytest.mark.parametrize("amount", [CHARGED + 1, 10**9])
async def test_a_dashboard_refund_beyond_the_eur_charged_is_a_break_in_eur(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway, amount: int
) -> None:
    order_id, started = await funded_in_eur(uow, clock, gateway)
    before = uow.escrows.rows[order_id]
    outcome = await commands.apply_stripe_event(
        uow,
        clock,
        gateway,
        dashboard_refund(started.stripe_payment_intent_id, "evt_r", ("re_1", amount, "eur")),
    )
    assert outcome.error == "invalid_amount"
    assert uow.escrows.rows[order_id] == before
    (found,) = await operations.refund_breaks(uow, T, 50)
    assert (found.amount, found.currency, found.bookable) == (amount, "EUR", CHARGED)


async def test_a_dashboard_refund_beyond_what_a_chargeback_left_free_is_a_break_in_eur(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, started = await funded_in_eur(uow, clock, gateway)
    pi = started.stripe_payment_intent_id
    opened = await commands.apply_stripe_event(
        uow, clock, gateway, chargeback(pi, "charge.dispute.created", "evt_dp", 50_000)
    )
    assert opened.handled
    before = uow.escrows.rows[order_id]
    free = before.available
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, dashboard_refund(pi, "evt_r", ("re_1", 60_000, "eur"))
    )
    assert outcome.error == "insufficient_funds"
    assert uow.escrows.rows[order_id] == before
    (found,) = await operations.refund_breaks(uow, T, 50)
    assert (found.currency, found.amount) == ("EUR", 60_000)
    assert found.bookable == CHARGED * free // 100_000  # what is free, back in EUR
