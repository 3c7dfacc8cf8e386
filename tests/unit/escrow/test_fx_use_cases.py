"""FX use cases against the in-memory unit of work and gateway (docs/fx.md): rates, quotes
used once, funding in the funding currency, CNY payouts from the lock, refunds in EUR."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from services.escrow.domain import fx as domain
from services.escrow.domain import refunds
from services.escrow.domain.errors import (
    CurrencyMismatch,
    FxQuoteExpired,
    FxQuoteMismatch,
    FxQuoteRequired,
    FxQuoteUsed,
    FxRateUnavailable,
    FxWireNotSupported,
    InvalidAmount,
    InvalidFx,
)
from services.escrow.domain.fx import FxSettings
from services.escrow.domain.ordering import MilestoneSpec
from services.escrow.service_layer import commands, settlement
from services.escrow.service_layer import fx as cases
from services.escrow.service_layer.commands import Caller, OrderTerms
from services.escrow.service_layer.gateway import GatewayRefused
from services.escrow.service_layer.stripe_events import PaymentIntentObject, StripeEvent
from shared.clock import ManualClock
from shared.events.escrow import Funded, MilestoneReleased, Refunded
from tests.unit.escrow.builders import T0
from tests.unit.escrow.fakes import FakeEscrowUnitOfWork, FakeGateway

T = "t1"
PLATFORM = Caller(tenant_id=T, actor="apikey:platform")
TERMS = OrderTerms(
    buyer_id="buyer-1",
    supplier_id="supplier-1",
    supplier_account_id="acct_supplier1",
    currency="USD",
    total=100_000,
    milestones=[
        MilestoneSpec("deposit", 33_333, "contract", 0),
        MilestoneSpec("rest", 66_667, "contract", 0),
    ],
    funding_currency="EUR",
    payout_currency="CNY",
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


async def rates(uow: FakeEscrowUnitOfWork, policy: str = "order") -> None:
    at = T0 - timedelta(hours=1)
    await cases.import_rates(uow, T, "finance", [
        cases.RateInput("EUR", "USD", "1.0842", at, "ECB"),
        cases.RateInput("USD", "CNY", "7.1185", at, "ECB"),
    ])  # fmt: skip
    await cases.set_settings(uow, T, FxSettings(50, policy, 600), "finance")  # type: ignore[arg-type]


def pi_succeeded(order_id: str, started: commands.FundingStarted, currency: str) -> StripeEvent:
    obj = PaymentIntentObject(
        id=started.stripe_payment_intent_id,
        amount=started.amount,
        amount_received=started.amount,
        currency=currency,
        metadata={"order_id": order_id},
    )
    return StripeEvent(f"evt_{started.payment_id}", "payment_intent.succeeded", obj)


async def funded_in_eur(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> tuple[str, commands.FundingStarted]:
    await rates(uow)
    order = await commands.create_order(uow, clock, PLATFORM, TERMS)
    q = await cases.create_quote(uow, clock, T, "EUR", "USD", 100_000, "funding")
    started = await commands.start_funding(
        uow, clock, gateway, PLATFORM, order.order_id, quote_id=q.quote_id
    )
    event = pi_succeeded(order.order_id, started, "eur")
    await commands.apply_stripe_event(uow, clock, gateway, event)
    return order.order_id, started


def published(uow: FakeEscrowUnitOfWork, kind: type) -> list:  # type: ignore[type-arg]
    return [p for e in uow.outbox.envelopes if isinstance(p := e.payload(), kind)]


async def test_funding_charges_eur_and_holds_usd_and_locks_the_cny_payout(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, _ = await funded_in_eur(uow, clock, gateway)
    (intent,) = gateway.made("payment_intent")
    assert (intent["amount"], intent["currency"]) == (92_698, "EUR")
    escrow = uow.escrows.rows[order_id]
    assert (escrow.funded, escrow.held, escrow.status) == (100_000, 100_000, "funded")
    (funded,) = published(uow, Funded)
    assert funded.amount == 100_000 and funded.fx is not None and funded.fx.from_amount == 92_698
    assert funded.payout_lock is not None and funded.payout_lock.to_amount == 708_290


async def test_releases_transfer_cny_allocated_from_the_lock(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, _ = await funded_in_eur(uow, clock, gateway)
    escrow = uow.escrows.rows[order_id]
    for m in escrow.milestones:
        await commands.accept_milestone(uow, clock, gateway, PLATFORM, order_id, m.milestone_id)
    transfers = gateway.made("transfer")
    assert [t["currency"] for t in transfers] == ["CNY", "CNY"]
    released = published(uow, MilestoneReleased)
    assert [r.payout_fx.to_amount for r in released] == [t["amount"] for t in transfers]
    nets = [r.supplier_net for r in released]
    assert transfers[0]["amount"] == 708_290 * nets[0] // 100_000
    assert all(t["source_transaction"] is None for t in transfers)  # EUR charge, CNY transfer


async def test_a_full_refund_returns_exactly_the_eur_charged(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, started = await funded_in_eur(uow, clock, gateway)
    await commands.cancel_order(uow, clock, gateway, PLATFORM, order_id, "withdrawn")
    (refund,) = gateway.made("refund")
    assert refund["amount"] == started.amount == 92_698
    (event,) = published(uow, Refunded)
    assert event.amount == 100_000 and event.fx is not None
    assert (event.fx.to_currency, event.fx.to_amount) == ("EUR", 92_698)


async def test_quotes_are_used_once_before_they_expire_for_what_they_quote(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await rates(uow)
    a = await commands.create_order(uow, clock, PLATFORM, TERMS)
    b = await commands.create_order(uow, clock, PLATFORM, TERMS)
    with pytest.raises(FxQuoteRequired):
        await commands.start_funding(uow, clock, gateway, PLATFORM, a.order_id)
    q = await cases.create_quote(uow, clock, T, "EUR", "USD", 100_000, "funding")
    with pytest.raises(FxQuoteMismatch):
        await commands.start_funding(
            uow, clock, gateway, PLATFORM, a.order_id, 50_000, quote_id=q.quote_id
        )
    await commands.start_funding(uow, clock, gateway, PLATFORM, a.order_id, quote_id=q.quote_id)
    with pytest.raises(FxQuoteUsed):
        await commands.start_funding(uow, clock, gateway, PLATFORM, b.order_id, quote_id=q.quote_id)
    late = await cases.create_quote(uow, clock, T, "EUR", "USD", 100_000, "funding")
    clock.advance(timedelta(seconds=600))
    with pytest.raises(FxQuoteExpired):
        await commands.start_funding(
            uow, clock, gateway, PLATFORM, b.order_id, quote_id=late.quote_id
        )
    assert uow.escrows.rows[b.order_id].payments == ()
    assert uow.fx.quotes[late.quote_id].used_by is None
    assert len(gateway.made("payment_intent")) == 1


async def test_a_payment_in_another_currency_than_quoted_is_refused(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await rates(uow)
    order = await commands.create_order(uow, clock, PLATFORM, TERMS)
    q = await cases.create_quote(uow, clock, T, "EUR", "USD", 100_000, "funding")
    started = await commands.start_funding(
        uow, clock, gateway, PLATFORM, order.order_id, quote_id=q.quote_id
    )
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, pi_succeeded(order.order_id, started, "usd")
    )
    assert outcome.error == CurrencyMismatch.code
    assert uow.escrows.rows[order.order_id].funded == 0
    short = PaymentIntentObject(
        id=started.stripe_payment_intent_id,
        amount=started.amount,
        amount_received=started.amount - 1,
        currency="eur",
        metadata={"order_id": order.order_id},
    )
    outcome = await commands.apply_stripe_event(
        uow, clock, gateway, StripeEvent("evt_short", "payment_intent.succeeded", short)
    )
    assert outcome.error == InvalidAmount.code
    assert uow.escrows.rows[order.order_id].funded == 0


async def test_wires_are_in_the_contract_currency_only(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await rates(uow)
    order = await commands.create_order(uow, clock, PLATFORM, TERMS)
    with pytest.raises(FxWireNotSupported):
        await commands.confirm_wire(
            uow, clock, gateway, PLATFORM, order.order_id, "W1", 100_000, currency="EUR"
        )
    wired = await commands.confirm_wire(
        uow, clock, gateway, PLATFORM, order.order_id, "W1", 100_000, currency="USD"
    )
    assert wired.funded == 100_000 and wired.payout_lock is not None


async def test_the_milestone_policy_converts_each_release_with_its_quote(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await rates(uow, "milestone")
    order = await commands.create_order(uow, clock, PLATFORM, TERMS)
    assert order.fx_policy == "milestone"
    await commands.confirm_wire(uow, clock, gateway, PLATFORM, order.order_id, "W1", 100_000)
    first, second = order.milestones
    # accepted at the rate in force
    await commands.accept_milestone(
        uow, clock, gateway, PLATFORM, order.order_id, first.milestone_id
    )
    (t1,) = gateway.made("transfer")
    assert t1["currency"] == "CNY"
    # a quote for another amount is refused, one for the supplier_net is used
    escrow = uow.escrows.rows[order.order_id]
    await cases.import_rates(uow, T, "finance", [
        cases.RateInput("USD", "CNY", "7.2", T0 - timedelta(minutes=1), "ECB"),
    ])  # fmt: skip
    uow.fx.rate_rows.clear()  # no rate in force: the acceptance stands, the release waits
    await commands.accept_milestone(
        uow, clock, gateway, PLATFORM, order.order_id, second.milestone_id
    )
    assert uow.escrows.rows[order.order_id].milestone(second.milestone_id).status == "accepted"
    await rates(uow, "milestone")
    net = commands.payouts.release_split(uow.escrows.rows[order.order_id], second.milestone_id)
    wrong = await cases.create_quote(uow, clock, T, "USD", "CNY", net + 1, "payout")
    with pytest.raises(FxQuoteMismatch):
        await commands.release_milestone(
            uow, clock, gateway, PLATFORM, order.order_id, second.milestone_id,
            quote_id=wrong.quote_id,
        )  # fmt: skip
    q = await cases.create_quote(uow, clock, T, "USD", "CNY", net, "payout")
    await commands.release_milestone(
        uow, clock, gateway, PLATFORM, order.order_id, second.milestone_id, quote_id=q.quote_id
    )
    t2 = gateway.made("transfer")[-1]
    assert (t2["currency"], t2["amount"]) == ("CNY", q.conversion.to_amount)
    assert escrow.version < uow.escrows.rows[order.order_id].version


async def test_rates_and_quotes_refuse_what_is_not_a_rate(
    uow: FakeEscrowUnitOfWork, clock: ManualClock
) -> None:
    for bad in ("1.08.1", "-1", "0", "1e3", "1.0000000000001"):
        with pytest.raises(InvalidFx):
            domain.new_rate("EUR", "USD", bad, T0, "x")
    with pytest.raises(InvalidFx):
        domain.new_rate("EUR", "EUR", "1", T0, "x")
    with pytest.raises(FxRateUnavailable):
        await cases.create_quote(uow, clock, T, "EUR", "USD", 100, "funding")
    future = [cases.RateInput("EUR", "USD", "1.1", T0 + timedelta(hours=1), "ECB")]
    await cases.import_rates(uow, T, "finance", future)
    with pytest.raises(FxRateUnavailable):  # not in force yet
        await cases.create_quote(uow, clock, T, "EUR", "USD", 100, "funding")
    parsed = domain.parse_rates_csv(
        "from_currency,to_currency,mid_rate,effective_at,source\n"
        "eur,usd,1.0842,2026-12-03T09:00:00+00:00,ECB\n"
    )
    assert parsed[0].mid_rate == Decimal("1.0842") and parsed[0].from_currency == "EUR"
    with pytest.raises(InvalidFx, match="line 3"):
        domain.parse_rates_csv(
            "from_currency,to_currency,mid_rate,effective_at,source\n"
            "EUR,USD,1.0842,2026-12-03T09:00:00+00:00,ECB\n"
            "EUR,USD,1.08,not a time,ECB\n"
        )


async def test_a_refund_whose_share_rounds_to_nothing_calls_no_stripe_refund(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    order_id, _ = await funded_in_eur(uow, clock, gateway)
    escrow, _events = refunds.reserve_refund(uow.escrows.rows[order_id], 1, "a cent back", None)
    (refund,) = escrow.refunds
    assert refund.fx is not None and refund.fx.to_amount == 0  # floor(92698 * 1 / 100000)
    booking = await settlement.effect(gateway, escrow, refund.refund_id)
    assert gateway.made("refund") == []  # Stripe refuses a refund of 0
    assert booking is not None
    done, _ = booking(escrow)
    assert done.refunds[0].status == "done" and done.refunded == 1


async def test_a_dispute_released_under_the_milestone_policy_waits_for_its_quote(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await rates(uow, "milestone")
    terms = replace(TERMS, milestones=[MilestoneSpec("all", 100_000, "contract", 86_400)])
    order = await commands.create_order(uow, clock, PLATFORM, terms)
    await commands.confirm_wire(uow, clock, gateway, PLATFORM, order.order_id, "W1", 100_000)
    (m,) = order.milestones
    disputed = await commands.open_dispute(
        uow, clock, gateway, PLATFORM, order.order_id, m.milestone_id, "late", []
    )
    uow.fx.rate_rows.clear()
    resolved = await commands.resolve_dispute(
        uow, clock, gateway, PLATFORM, order.order_id, disputed.disputes[0].dispute_id,
        "release", None,
    )  # fmt: skip
    assert resolved.milestone(m.milestone_id).status == "accepted" and resolved.payouts == ()
    await rates(uow, "milestone")
    net = commands.payouts.release_split(resolved, m.milestone_id)
    q = await cases.create_quote(uow, clock, T, "USD", "CNY", net, "payout")
    paid = await commands.release_milestone(
        uow, clock, gateway, PLATFORM, order.order_id, m.milestone_id, quote_id=q.quote_id
    )
    assert paid.milestone(m.milestone_id).status == "released"
    assert gateway.made("transfer")[-1]["currency"] == "CNY"


async def test_a_funding_quote_is_not_used_again_by_a_later_funding_of_the_same_order(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await rates(uow)
    order = await commands.create_order(uow, clock, PLATFORM, TERMS)
    q = await cases.create_quote(uow, clock, T, "EUR", "USD", 50_000, "funding")
    first = await commands.start_funding(
        uow, clock, gateway, PLATFORM, order.order_id, 50_000, quote_id=q.quote_id
    )
    await commands.apply_stripe_event(
        uow, clock, gateway, pi_succeeded(order.order_id, first, "eur")
    )
    with pytest.raises(FxQuoteUsed):
        await commands.start_funding(
            uow, clock, gateway, PLATFORM, order.order_id, 50_000, quote_id=q.quote_id
        )
    clock.advance(timedelta(seconds=600))
    with pytest.raises((FxQuoteUsed, FxQuoteExpired)):
        await commands.start_funding(
            uow, clock, gateway, PLATFORM, order.order_id, 50_000, quote_id=q.quote_id
        )
    assert len(gateway.made("payment_intent")) == 1


async def test_a_payout_quote_is_not_used_again_after_a_refused_transfer(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await rates(uow, "milestone")
    order = await commands.create_order(uow, clock, PLATFORM, TERMS)
    await commands.confirm_wire(uow, clock, gateway, PLATFORM, order.order_id, "W1", 100_000)
    first = order.milestones[0]
    uow.fx.rate_rows.clear()  # no rate in force: the acceptance stands, the release waits
    await commands.accept_milestone(
        uow, clock, gateway, PLATFORM, order.order_id, first.milestone_id
    )
    await rates(uow, "milestone")
    net = commands.payouts.release_split(uow.escrows.rows[order.order_id], first.milestone_id)
    q = await cases.create_quote(uow, clock, T, "USD", "CNY", net, "payout")
    gateway.fail["transfer"] = GatewayRefused("account restricted")
    with contextlib.suppress(GatewayRefused):  # the transfer is refused; the release waits
        await commands.release_milestone(
            uow, clock, gateway, PLATFORM, order.order_id, first.milestone_id,
            quote_id=q.quote_id,
        )  # fmt: skip
    assert uow.escrows.rows[order.order_id].milestone(first.milestone_id).status == "accepted"
    del gateway.fail["transfer"]
    clock.advance(timedelta(seconds=600))
    with pytest.raises((FxQuoteUsed, FxQuoteExpired)):
        await commands.release_milestone(
            uow, clock, gateway, PLATFORM, order.order_id, first.milestone_id,
            quote_id=q.quote_id,
        )  # fmt: skip


def test_a_csv_field_beyond_the_csv_limit_is_invalid_fx() -> None:
    with pytest.raises(InvalidFx):
        domain.parse_rates_csv(
            "from_currency,to_currency,mid_rate,effective_at,source\n"
            f'EUR,USD,1.0842,2026-12-03T09:00:00+00:00,"{"x" * 200_000}"\n'
        )


async def test_a_refused_funding_does_not_burn_its_quote(
    uow: FakeEscrowUnitOfWork, clock: ManualClock, gateway: FakeGateway
) -> None:
    await rates(uow)
    order = await commands.create_order(uow, clock, PLATFORM, TERMS)
    q = await cases.create_quote(uow, clock, T, "EUR", "USD", 100_000, "funding")
    uow.fx.rate_rows.clear()  # no USD->CNY rate in force: the payout lock is refused
    with pytest.raises(FxRateUnavailable):
        await commands.start_funding(
            uow, clock, gateway, PLATFORM, order.order_id, quote_id=q.quote_id
        )
    assert uow.fx.quotes[q.quote_id].used_by is None
    assert gateway.made("payment_intent") == []
