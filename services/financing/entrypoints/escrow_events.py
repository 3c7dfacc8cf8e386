"""Escrow's events, consumed by financing: the order read model, then their effect on the
order's advance (lien saga, repayments, credit events).

A fetched batch is applied at once (``EscrowEventHandler.apply``, the consumer's batch
handler), inside the inbox transaction, so a redelivered event (same id) never applies
twice; events that arrive late or twice under new ids meet an advance whose state already
moved on and are no-ops (see domain/lifecycle.on_lien_placed). Per batch:
1. the batch's orders are row-locked in one statement, in key order (the order row comes
   first in financing's lock order: order, advance, book), and one more tells which of
   them have a live advance;
2. each event is folded into its order in memory, in batch order; only an event that acts
   on an advance (a lien answer, a repayment, a dispute, refund, cancellation or completion
   of an order with a live advance) touches the database, inside a savepoint of its own,
   after writing the order as it folded so far (the lien saga reads it);
3. the orders are written back in one statement.
An event that cannot be applied (an order financing never saw created, an invalid event, a
step that raised) leaves no effect, stops its order for the rest of the batch and is
returned to the consumer, which dead-letters or retries it; the other orders go on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.advances import AdvanceRepository
from services.financing.adapters.orders import Found, OrderKey, OrderRepository
from services.financing.domain import credit, lifecycle, servicing
from services.financing.domain.advance import Advance, Step
from services.financing.domain.orders import MilestoneView, OrderView
from services.financing.entrypoints.context import Deps, persist
from services.financing.entrypoints.lien_saga import on_lien_placed
from shared.events import escrow as ev
from shared.events.envelope import Envelope
from shared.events.registry import EventModel
from shared.inbox import Failures, PermanentFailure

log = structlog.get_logger(__name__)
ACTOR = lifecycle.SYSTEM


class EscrowEventHandler:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def __call__(self, conn: AsyncConnection, env: Envelope) -> None:
        """One event (as a batch of one): raises what it could not apply."""
        for error in (await self.apply(conn, [env])).values():
            raise error

    async def apply(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
        """The batch handler: applies ``envelopes``, returns those it could not apply."""
        plan: list[tuple[Envelope, EventModel | Exception]] = []
        for env in envelopes:
            if env.type not in _NEEDED:
                continue  # an escrow event financing does not need, whatever its version
            try:
                payload = env.payload()
            except Exception as exc:  # invalid, or newer than this code: nothing done
                plan.append((env, exc))
                continue
            plan.append((env, payload))
        keys = {_key(env, p) for env, p in plan if not isinstance(p, Exception)}
        batch = _Batch(await OrderRepository(conn).lock(keys))
        batch.with_advance = await AdvanceRepository(conn).orders_with_live(keys)
        failed: dict[UUID, Exception] = {}
        stopped: set[str] = set()  # subjects behind a failed event: the consumer parks them
        for env, event in plan:
            if env.subject in stopped:
                continue
            try:
                if isinstance(event, Exception):
                    raise event
                await self._apply_one(conn, batch, env, event)
            except Exception as exc:  # it left no effect: see _apply_one
                failed[env.id] = exc
                stopped.add(env.subject)
        await OrderRepository(conn).put_all([batch.orders[k] for k in sorted(batch.dirty)])
        return failed

    async def _apply_one(
        self, conn: AsyncConnection, batch: _Batch, env: Envelope, payload: EventModel
    ) -> None:
        """Fold the event into its order; its step, if it has one, in a savepoint."""
        key = _key(env, payload)
        if isinstance(payload, ev.OrderCreated):
            batch.orders[key] = (self._order_created(env, payload), {})
            batch.dirty.add(key)
            return
        found = batch.orders.get(key)
        if found is None:
            raise PermanentFailure(f"{env.type} for an order financing never saw created")
        order, disputes = _fold(*found, payload)
        if _acts_on_advance(payload, key in batch.with_advance):
            async with conn.begin_nested():  # the step and the order it saw, or neither
                await OrderRepository(conn).put(order, disputes)
                await _HANDLERS[type(payload)](self, conn, env, payload, order)
        batch.orders[key] = (order, disputes)
        batch.dirty.add(key)

    def _order_created(self, env: Envelope, p: ev.OrderCreated) -> OrderView:
        return OrderView(
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


@dataclass
class _Batch:
    """The batch's orders as folded so far, which to write back, which have a live advance."""

    orders: dict[OrderKey, Found]
    dirty: set[OrderKey] = field(default_factory=set)
    with_advance: set[OrderKey] = field(default_factory=set)


def _key(env: Envelope, p: EventModel) -> OrderKey:
    return env.tenant_id, getattr(p, "order_id", env.subject)


_Step = Callable[["EscrowEventHandler", AsyncConnection, Envelope, Any, OrderView], Awaitable[None]]


def _acts_on_advance(p: EventModel, has_live_advance: bool) -> bool:
    """Whether the event's step may touch an advance (otherwise it only folds the order)."""
    if isinstance(p, ev.LienPlaced | ev.LienRefused):
        return True
    if isinstance(p, ev.MilestoneReleased):
        return p.lien_repayment != 0 and p.advance_id is not None
    if isinstance(p, ev.Funded | ev.LienReleased):
        return False
    return has_live_advance  # disputes, refunds, cancellation, completion: the live advance


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


_HANDLERS: dict[type[EventModel], _Step] = {
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
# Looked at before an event is parsed: one of a version or type this code does not know
# stalls the consumer or parks its order, which is right only for an event financing uses.
_NEEDED = frozenset({ev.OrderCreated.event_type, *(model.event_type for model in _HANDLERS)})
