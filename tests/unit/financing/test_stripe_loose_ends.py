"""Financing's Stripe loose ends (issue 11 part 4): a disbursement transferred from the
order's funding charge, and ``order_not_yet_known`` for an order escrow may have created
after the events financing has read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from uuid6 import uuid7

from services.financing.domain import arrival
from services.financing.domain.lifecycle import accept as accept_offer
from services.financing.domain.lifecycle import open_advance
from services.financing.domain.orders import fold
from services.financing.domain.sizing import Exposure, Offer, size
from services.financing.entrypoints.http.errors import api_error
from services.financing.service_layer import commands, events
from services.financing.service_layer.errors import AdvanceRefusal, OrderNotYetKnown
from shared.clock import ManualClock
from shared.events import Envelope, EventModel
from shared.events import escrow as ev
from tests.unit.financing.builders import T0, order_30_40_30, policy
from tests.unit.financing.fakes import FakeFinancingUnitOfWork, FakeTransferGateway

SUPPLIER = "apikey:supplier"


@pytest.fixture
def uow() -> FakeFinancingUnitOfWork:
    return FakeFinancingUnitOfWork()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def funded(amount: int, charge: str | None, method: str = "stripe") -> ev.Funded:
    return ev.Funded(
        order_id="o1", payment_id=f"pay-{amount}", amount=amount, currency="USD",
        method=method, stripe_payment_intent_id=None, stripe_charge_id=charge,
        funded_total=amount, held_after=amount, fully_funded=amount >= 10_000_000,
    )  # fmt: skip


# --- the funding charge ----------------------------------------------------------------


def test_the_funding_charge_is_the_first_card_charge_that_paid_the_whole_total() -> None:
    order = replace(order_30_40_30(deposit_released=False), funded_total=0)
    in_parts, _ = fold(order, {}, funded(6_000_000, "ch_part"))
    assert in_parts.funding_charge_id is None
    wire, _ = fold(order, {}, funded(10_000_000, None, "wire"))
    assert wire.funding_charge_id is None
    whole, _ = fold(order, {}, funded(10_000_000, "ch_whole"))
    again, _ = fold(whole, {}, funded(10_000_000, "ch_second"))  # paid twice: refunded
    assert (again.funding_charge_id, again.funding_charge_amount) == ("ch_whole", 10_000_000)
    assert whole.funding_source(5_000_000) == "ch_whole"
    released = replace(whole, released_total=3_000_000, refunded_total=2_000_000)
    assert released.funding_source(5_000_000) == "ch_whole"
    assert released.funding_source(5_000_001) is None  # more than the charge has left


def accepted_on(uow: FakeFinancingUnitOfWork, charge: str | None) -> Any:
    order = replace(order_30_40_30(), funding_charge_id=charge, funding_charge_amount=10_000_000)
    uow.seed_order(order)
    offer = size(order, policy(), Exposure(), T0, requested=5_600_000)
    assert isinstance(offer, Offer)
    offered, _ = open_advance("a1", order, "s1", offer, policy(), T0)
    return uow.seed(accept_offer(offered, T0, SUPPLIER)[0])


async def consume(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway,
    *payloads: EventModel, tenant: str = "t1",
) -> dict[Any, Exception]:  # fmt: skip
    async with uow:
        envs = [
            Envelope.wrap(
                p, source="escrow", tenant_id=tenant, subject="o1", occurred_at=clock.now()
            )
            for p in payloads
        ]
        failed = await events.apply_escrow_events(uow, clock, gateway, envs)
        await uow.commit()
    return dict(failed)


@pytest.mark.parametrize("charge", ["ch_whole", None])
async def test_a_disbursement_is_transferred_from_the_funding_charge_when_there_is_one(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, charge: str | None
) -> None:
    gateway = FakeTransferGateway()
    advance = accepted_on(uow, charge)
    placed = ev.LienPlaced(order_id="o1", advance_id="a1", amount=advance.principal, currency="USD")
    assert await consume(uow, clock, gateway, placed) == {}
    (call,) = gateway.calls
    assert call["source_transaction"] == charge and call["amount"] == advance.net


# --- order_not_yet_known ---------------------------------------------------------------


def made_at(at: Any) -> str:
    """A UUIDv7 order id made at ``at`` (as escrow's new_id would have made it then)."""
    ms = int(at.timestamp() * 1000)
    rand = uuid7().int & ((1 << 80) - 1)
    return str(UUID(int=(ms << 80) | rand))


def test_an_id_tells_when_escrow_made_it_and_only_a_uuid7_does() -> None:
    oid = made_at(T0)
    assert arrival.created_at(oid) == T0
    assert arrival.created_at("o-unknown") is None
    assert arrival.created_at("0b6f0d1a-7a4e-4c6e-9b1a-2f1e4f6d8a90") is None  # a UUIDv4


@pytest.mark.parametrize(
    ("made", "read_up_to", "on_its_way"),
    [
        (T0, None, True),  # nothing read yet of the tenant
        (T0, T0 - timedelta(seconds=5), True),  # made after what was read
        (T0, T0 + timedelta(seconds=29), True),  # within the margin of out-of-order commits
        (T0, T0 + timedelta(seconds=31), False),  # its creation was read already: none
        (T0 - timedelta(minutes=11), None, False),  # older than the horizon
        (T0 + timedelta(minutes=1), None, False),  # made in the future: not by escrow
    ],
)
def test_an_order_may_be_on_its_way_only_after_what_financing_read(
    made: Any, read_up_to: Any, on_its_way: bool
) -> None:
    horizon = timedelta(minutes=10)
    assert arrival.may_be_on_its_way(made_at(made), read_up_to, T0, horizon) is on_its_way


async def test_a_quote_for_an_order_not_heard_of_yet_is_retryable_and_commits_nothing(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    fresh = made_at(T0 - timedelta(seconds=1))
    with pytest.raises(OrderNotYetKnown) as early:
        await commands.quote(uow, clock, "t1", "s1", fresh, None, SUPPLIER)
    assert early.value.retry_after == arrival.RETRY_AFTER_SECONDS and uow.commits == 0
    answer = api_error(early.value)
    assert answer is not None and (answer.status, answer.code) == (409, "order_not_yet_known")
    assert answer.headers == {"Retry-After": str(arrival.RETRY_AFTER_SECONDS)}
    # Once financing has read the tenant's events past it, the order does not exist.
    await consume(uow, clock, FakeTransferGateway(), funded(1, None), tenant="t1")
    clock.advance(timedelta(seconds=31))
    await consume(uow, clock, FakeTransferGateway(), funded(1, None), tenant="t1")
    with pytest.raises(AdvanceRefusal) as unknown:
        await commands.quote(uow, clock, "t1", "s1", fresh, None, SUPPLIER)
    assert [r.code for r in unknown.value.reasons] == ["order_unknown"]


async def test_an_id_that_is_no_escrow_order_id_is_unknown_at_once(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    with pytest.raises(AdvanceRefusal) as unknown:
        await commands.quote(uow, clock, "t1", "s1", "o-unknown", None, SUPPLIER)
    assert [r.code for r in unknown.value.reasons] == ["order_unknown"]
