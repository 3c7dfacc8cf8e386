"""Every Stripe object escrow creates names its tenant in its metadata: the ledger
reconciles a tenant's share of the platform Stripe account by it (docs/ledger.md)."""

from __future__ import annotations

from services.escrow.service_layer import commands
from services.escrow.service_layer.commands import Caller
from shared.clock import ManualClock
from tests.unit.escrow.builders import T0, funded, ms, new_order
from tests.unit.escrow.fakes import FakeEscrowUnitOfWork, FakeGateway

PLATFORM = Caller(tenant_id="t1", actor="apikey:platform")


async def test_payment_intents_transfers_and_refunds_carry_the_tenant() -> None:
    uow, clock, gateway = FakeEscrowUnitOfWork(), ManualClock(T0), FakeGateway()
    unfunded = uow.seed(new_order())
    assert unfunded.tenant_id == "t1"
    await commands.start_funding(uow, clock, gateway, PLATFORM, unfunded.order_id)
    paid = uow.seed(funded(new_order()))
    await commands.accept_milestone(uow, clock, gateway, PLATFORM, paid.order_id, ms(paid, 0))
    cancelled = uow.seed(funded(new_order()))
    await commands.cancel_order(uow, clock, gateway, PLATFORM, cancelled.order_id, "changed mind")
    made = [gateway.made(op) for op in ("payment_intent", "transfer", "refund")]
    assert [len(calls) for calls in made] == [1, 1, 1]
    assert all(calls[0]["metadata"]["tenant_id"] == "t1" for calls in made)
