"""escrow.lien_placed: disburse the advance by Stripe transfer, or give the lien back.

The Stripe call happens inside the inbox transaction. Its idempotency key is derived from the
lien_placed event id, so if the transaction fails after Stripe paid, the retry gets the same
transfer back instead of paying twice. A transfer Stripe refuses cancels the advance and
asks escrow to release the lien.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.advances import AdvanceRepository
from services.financing.adapters.orders import OrderRepository
from services.financing.adapters.stripe_gateway import TransferFailed
from services.financing.domain import credit, lifecycle, servicing
from services.financing.domain.lifecycle import LienAnswer
from services.financing.domain.orders import OrderView
from shared.events import escrow as ev
from shared.events.envelope import Envelope

if TYPE_CHECKING:
    from services.financing.entrypoints.escrow_events import EscrowEventHandler


async def on_lien_placed(
    handler: EscrowEventHandler,
    conn: AsyncConnection,
    env: Envelope,
    p: ev.LienPlaced,
    order: OrderView,
) -> None:
    advance = await AdvanceRepository(conn).get(p.advance_id, tenant_id=env.tenant_id)
    if advance is None:
        return
    answer = lifecycle.on_lien_placed(advance)
    deps = handler.deps
    if answer is LienAnswer.RELEASE:
        release = lifecycle.release_lien(advance, f"advance_{advance.state}")
        await deps.publisher.emit(
            conn, advance, [release], actor=lifecycle.SYSTEM, now=deps.clock.now(), cause=env
        )
        return
    if answer is LienAnswer.IGNORE:
        return
    try:
        transfer_id = await deps.gateway.transfer(
            amount=advance.net,
            currency=advance.currency,
            destination=order.supplier_account_id,
            transfer_group=order.order_id,
            idempotency_key=f"financing-disburse-{env.id}",
            metadata={"advance_id": advance.advance_id, "order_id": order.order_id},
        )
    except TransferFailed as exc:
        step = lifecycle.cancel(advance, f"transfer_failed:{exc.code}", lien_placed=True)
    else:
        step = servicing.disburse(advance, transfer_id, deps.clock.now())
        # A dispute opened after the lien was placed but before the payout: the advance is
        # out now, so it is frozen like any disbursed advance when its order is disputed.
        found = await OrderRepository(conn).get(order.tenant_id, order.order_id)
        disputes = found[1] if found else {}
        if disputes:
            frozen, events = credit.freeze(step[0], sorted(disputes)[0])
            step = frozen, [*step[1], *events]
    await handler.apply_step(conn, env, advance, step)
