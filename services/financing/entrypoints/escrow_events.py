"""Escrow's events, consumed by financing: the order read model, then their effect on the
order's advance (lien saga, repayments, credit events).

Each handler runs inside the inbox transaction, so a redelivered event (same id) never
applies twice; events that arrive late or twice under new ids meet an advance whose state
already moved on and are no-ops (see domain/lifecycle.on_lien_placed).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.advances import AdvanceRepository
from services.financing.adapters.orders import OrderRepository
from services.financing.domain import credit, lifecycle, servicing
from services.financing.domain.advance import Advance, Step
from services.financing.domain.orders import MilestoneView, OrderView
from services.financing.entrypoints.context import Deps, persist
from services.financing.entrypoints.lien_saga import on_lien_placed
from shared.events import escrow as ev
from shared.events.envelope import Envelope
from shared.inbox import PermanentFailure

log = structlog.get_logger(__name__)
ACTOR = lifecycle.SYSTEM


class EscrowEventHandler:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def __call__(self, conn: AsyncConnection, env: Envelope) -> None:
        payload = env.payload()
        if isinstance(payload, ev.OrderCreated):
            await self._order_created(conn, env, payload)
            return
        handler = _HANDLERS.get(type(payload))
        if handler is None:
            return  # an escrow event financing does not need
        orders = OrderRepository(conn)
        found = await orders.get(env.tenant_id, getattr(payload, "order_id", env.subject))
        if found is None:
            raise PermanentFailure(f"{env.type} for an order financing never saw created")
        order, disputes = found
        order, disputes = _fold(order, disputes, payload)
        await orders.put(order, disputes)
        await handler(self, conn, env, payload, order)

    async def _order_created(
        self, conn: AsyncConnection, env: Envelope, p: ev.OrderCreated
    ) -> None:
        view = OrderView(
            tenant_id=env.tenant_id,
            order_id=p.order_id,
            buyer_id=p.buyer_id,
            supplier_id=p.supplier_id,
            supplier_account_id=p.supplier_account_id,
            currency=p.currency,
            total=p.total,
            created_at=env.occurred_at,
            milestones=tuple(
                MilestoneView(m.milestone_id, m.kind, m.amount, m.inspection_window_seconds)
                for m in p.milestones
            ),
            platform_fee_bps=p.platform_fee_bps,
            platform_fee_fixed=p.platform_fee_fixed,
        )
        await OrderRepository(conn).put(view, {})

    async def apply_step(
        self, conn: AsyncConnection, env: Envelope, advance: Advance, step: Step
    ) -> Advance:
        if step[1] or step[0] != advance:
            return await persist(
                conn, self.deps, step, actor=ACTOR, now=self.deps.clock.now(), cause=env
            )
        return advance

    async def _live(self, conn: AsyncConnection, order: OrderView) -> Advance | None:
        return await AdvanceRepository(conn).live_for_order(order.tenant_id, order.order_id)

    async def released(
        self, conn: AsyncConnection, env: Envelope, p: Any, order: OrderView
    ) -> None:
        if p.lien_repayment == 0 or p.advance_id is None:
            return
        advance = await AdvanceRepository(conn).get(p.advance_id, tenant_id=env.tenant_id)
        if advance is None:
            raise PermanentFailure(f"lien repayment for unknown advance {p.advance_id}")
        now = self.deps.clock.now()
        await self.apply_step(
            conn, env, advance, servicing.apply_repayment(advance, p.lien_repayment, now)
        )

    async def dispute_changed(
        self, conn: AsyncConnection, env: Envelope, p: Any, order: OrderView
    ) -> None:
        advance = await self._live(conn, order)
        if advance is None:
            return
        if isinstance(p, ev.DisputeOpened):
            await self.apply_step(conn, env, advance, credit.freeze(advance, p.dispute_id))
        elif order.disputed_total == 0:
            await self.apply_step(conn, env, advance, credit.unfreeze(advance, p.dispute_id))

    async def money_left(
        self, conn: AsyncConnection, env: Envelope, p: Any, order: OrderView
    ) -> None:
        """Refund, cancellation or completion: what the escrow can still repay may not cover
        the advance; the shortfall becomes recourse on the supplier."""
        advance = await self._live(conn, order)
        if advance is None:
            return
        if advance.state == "accepted":  # lien asked, money not out yet: give up
            step = lifecycle.cancel(advance, f"order_{order.status}", lien_placed=True)
            await self.apply_step(conn, env, advance, step)
            return
        open_ = order.status == "open"
        capacity = order.repayable() if open_ else 0
        await self.apply_step(conn, env, advance, credit.claim_recourse(advance, capacity))

    async def lien_placed(
        self, conn: AsyncConnection, env: Envelope, p: Any, order: OrderView
    ) -> None:
        await on_lien_placed(self, conn, env, p, order)

    async def lien_refused(
        self, conn: AsyncConnection, env: Envelope, p: Any, order: OrderView
    ) -> None:
        advance = await AdvanceRepository(conn).get(p.advance_id, tenant_id=env.tenant_id)
        if advance is None:
            return
        reason = "lien_refused:" + ",".join(p.reasons)
        await self.apply_step(
            conn, env, advance, lifecycle.cancel(advance, reason, lien_placed=False)
        )

    async def nothing(self, conn: AsyncConnection, env: Envelope, p: Any, order: OrderView) -> None:
        return None


def _fold(order: OrderView, disputes: dict[str, Any], p: Any) -> tuple[OrderView, dict[str, Any]]:
    """The read model after one escrow event."""
    if isinstance(p, ev.Funded):
        return replace(order, funded_total=max(order.funded_total, p.funded_total)), disputes
    if isinstance(p, ev.MilestoneReleased):
        order = order.with_milestone(p.milestone_id, released=True)
        return replace(order, released_total=order.released_total + p.gross), disputes
    if isinstance(p, ev.DisputeOpened):
        disputes = {**disputes, p.dispute_id: {"milestone_id": p.milestone_id, "amount": p.amount}}
        order = order.with_milestone(p.milestone_id, disputed=True)
    elif isinstance(p, ev.DisputeResolved):
        disputes = {k: v for k, v in disputes.items() if k != p.dispute_id}
        if p.milestone_id not in {d["milestone_id"] for d in disputes.values()}:
            order = order.with_milestone(p.milestone_id, disputed=False)
        order = order.refunded_from(p.milestone_id, p.refund_amount)
    elif isinstance(p, ev.Refunded):
        order = replace(order, refunded_total=order.refunded_total + p.amount)
    elif isinstance(p, ev.Cancelled):
        order = replace(order, status="cancelled")
    elif isinstance(p, ev.Completed):
        order = replace(order, status="completed")
    total = sum(d["amount"] for d in disputes.values())
    return replace(order, disputed_total=total), disputes


_HANDLERS = {
    ev.Funded: EscrowEventHandler.nothing,
    ev.MilestoneReleased: EscrowEventHandler.released,
    ev.DisputeOpened: EscrowEventHandler.dispute_changed,
    ev.DisputeResolved: EscrowEventHandler.dispute_changed,
    ev.Refunded: EscrowEventHandler.money_left,
    ev.Cancelled: EscrowEventHandler.money_left,
    ev.Completed: EscrowEventHandler.money_left,
    ev.LienPlaced: EscrowEventHandler.lien_placed,
    ev.LienRefused: EscrowEventHandler.lien_refused,
    ev.LienReleased: EscrowEventHandler.nothing,
}
