"""Escrow's events, consumed by financing: the order read model, then their effect on the
order's advance (the lien saga, repayments, credit events).

``apply_escrow_events`` applies a whole consumed batch in one unit of work (the consumer's
transaction, ``FinancingUnitOfWork.joining``), so a redelivered event (same id) never
applies twice; events that arrive late or twice under new ids meet an advance whose state
already moved on and are no-ops (``domain/lifecycle.on_lien_placed``). Per batch:
1. the batch's orders are row-locked in one statement, in key order (the order row comes
   first in financing's lock order: order, advance, book), and one more tells which of
   them have a live advance;
2. each event is folded into its order in memory, in batch order (``domain/orders.fold``);
   only an event that acts on an advance (a lien answer, a repayment, a dispute, refund,
   cancellation or completion of an order with a live advance) touches the database, in
   a savepoint of its own, after writing the order as it folded so far (the saga reads
   it), through its function below (``on_<event>``);
3. the orders are written back in one statement.
An event that cannot be applied (an order financing never saw created, an invalid event, a
step that raised) leaves no effect, stops its order for the rest of the batch and is
returned among the failures, which the consumer dead-letters or retries; the other orders
go on.

The lien saga's disbursement (``on_lien_placed``) calls Stripe inside that transaction. Its
idempotency key is derived from the lien_placed event id, so if the transaction fails after
Stripe paid, the retry gets the same transfer back instead of paying twice. A transfer
Stripe refuses cancels the advance and asks escrow to release the lien.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from services.financing.domain import credit, lifecycle, servicing
from services.financing.domain.advance import Advance, Step
from services.financing.domain.lifecycle import LienAnswer
from services.financing.domain.orders import OrderView, fold, order_created
from services.financing.service_layer.decisions import emit, write_step
from services.financing.service_layer.gateway import TransferFailed, TransferGateway
from services.financing.service_layer.unit_of_work import (
    AbstractFinancingUnitOfWork,
    Found,
    OrderKey,
)
from shared.clock import Clock
from shared.events import Envelope, EventModel
from shared.events import escrow as ev
from shared.inbox import PermanentFailure

ACTOR = lifecycle.SYSTEM
# Looked at before an event is parsed: one of a version or type this code does not know
# stalls the consumer or parks its order, which is right only for an event financing uses.
FOLDED = frozenset(
    model.event_type
    for model in (
        ev.OrderCreated, ev.Funded, ev.MilestoneReleased, ev.DisputeOpened, ev.DisputeResolved,
        ev.Refunded, ev.Cancelled, ev.Completed, ev.LienPlaced, ev.LienRefused, ev.LienReleased,
    )
)  # fmt: skip


@dataclass(frozen=True)
class Handling:
    """What an event's function works with: the batch's unit of work, the clock, Stripe,
    and the envelope it handles (the cause of whatever it emits)."""

    uow: AbstractFinancingUnitOfWork
    clock: Clock
    gateway: TransferGateway
    env: Envelope

    async def apply(self, advance: Advance, step: Step) -> Advance:
        """Write ``step`` if it changes anything, as the system, caused by the event."""
        if step[1] or step[0] != advance:
            now = self.clock.now()
            return await write_step(self.uow, step, actor=ACTOR, now=now, cause=self.env)
        return advance

    async def live(self, order: OrderView) -> Advance | None:
        return await self.uow.advances.live_for_order(order.tenant_id, order.order_id)

    async def advance(self, advance_id: str) -> Advance | None:
        return await self.uow.advances.get(advance_id, tenant_id=self.env.tenant_id)


async def apply_escrow_events(
    uow: AbstractFinancingUnitOfWork,
    clock: Clock,
    gateway: TransferGateway,
    envelopes: Sequence[Envelope],
) -> dict[UUID, Exception]:
    """Stage the effects of the batch's events in ``uow`` (the caller commits); the events
    that could not be applied, by event id."""
    plan: list[tuple[Envelope, EventModel | Exception]] = []
    for env in envelopes:
        if env.type not in FOLDED:
            continue  # an escrow event financing does not need, whatever its version
        try:
            plan.append((env, env.payload()))
        except Exception as exc:  # invalid, or newer than this code: nothing done
            plan.append((env, exc))
    keys = {_key(env, p) for env, p in plan if not isinstance(p, Exception)}
    batch = _Batch(await uow.orders.lock(keys))
    batch.with_advance = await uow.advances.orders_with_live(keys)
    failed: dict[UUID, Exception] = {}
    stopped: set[str] = set()  # subjects behind a failed event: the consumer parks them
    for env, event in plan:
        if env.subject in stopped:
            continue
        try:
            if isinstance(event, Exception):
                raise event
            await _apply_one(Handling(uow, clock, gateway, env), batch, event)
        except Exception as exc:  # it left no effect: see _apply_one
            failed[env.id] = exc
            stopped.add(env.subject)
    await uow.orders.put_all([batch.orders[k] for k in sorted(batch.dirty)])
    await uow.escrow_progress.advance(_read_up_to([env for env, _ in plan]))
    return failed


def _read_up_to(envelopes: Sequence[Envelope]) -> dict[str, datetime]:
    """The latest ``occurred_at`` per tenant of the batch's folded events (the types it
    skips cost no statement; ``order_created`` is folded, and escrow publishes a tenant's
    events in order, so whatever is read after an order's creation was made after it)."""
    marks: dict[str, datetime] = {}
    for env in envelopes:
        if env.tenant_id not in marks or env.occurred_at > marks[env.tenant_id]:
            marks[env.tenant_id] = env.occurred_at
    return marks


# --- one function per event that acts on an advance ------------------------------------


async def on_milestone_released(h: Handling, p: ev.MilestoneReleased) -> None:
    """The release repaid the lien: the repayment goes to fee, then principal."""
    if p.lien_repayment == 0 or p.advance_id is None:
        return
    advance = await h.advance(p.advance_id)
    if advance is None:
        raise PermanentFailure(f"lien repayment for unknown advance {p.advance_id}")
    await h.apply(advance, servicing.apply_repayment(advance, p.lien_repayment, h.clock.now()))


async def on_dispute_changed(
    h: Handling, p: ev.DisputeOpened | ev.DisputeResolved, order: OrderView
) -> None:
    """A dispute freezes the order's advance; the last one resolved unfreezes it."""
    advance = await h.live(order)
    if advance is None:
        return
    if isinstance(p, ev.DisputeOpened):
        await h.apply(advance, credit.freeze(advance, p.dispute_id))
    elif order.disputed_total == 0:
        await h.apply(advance, credit.unfreeze(advance, p.dispute_id))


async def on_money_left(h: Handling, order: OrderView) -> None:
    """Refund, cancellation or completion: what the escrow can still repay may not cover
    the advance; the shortfall becomes recourse on the supplier."""
    advance = await h.live(order)
    if advance is None:
        return
    if advance.state == "accepted":  # lien asked, money not out yet: give up
        await h.apply(advance, lifecycle.cancel(advance, f"order_{order.status}", lien_placed=True))
        return
    capacity = order.repayable() if order.status == "open" else 0
    await h.apply(advance, credit.claim_recourse(advance, capacity))


async def on_lien_placed(h: Handling, p: ev.LienPlaced, order: OrderView) -> None:
    """Escrow holds the lien: disburse by Stripe transfer, or give the lien back."""
    advance = await h.advance(p.advance_id)
    if advance is None:
        return
    answer = lifecycle.on_lien_placed(advance)
    if answer is LienAnswer.RELEASE:
        release = lifecycle.release_lien(advance, f"advance_{advance.state}")
        await emit(h.uow, advance, [release], actor=ACTOR, now=h.clock.now(), cause=h.env)
        return
    if answer is LienAnswer.IGNORE:
        return
    amount, currency = advance.transfer  # in the payout currency
    # The funding charge settled in the contract (or funding) currency: a transfer in another
    # currency is made from the platform balance.
    source = order.funding_source(advance.net) if currency == order.currency else None
    try:
        transfer_id = await h.gateway.transfer(
            amount=amount,
            currency=currency,
            destination=order.supplier_account_id,
            transfer_group=order.order_id,
            idempotency_key=f"financing-disburse-{h.env.id}",
            # the tenant, for the ledger's per-tenant reconciliation of the platform account
            metadata={
                "advance_id": advance.advance_id,
                "order_id": order.order_id,
                "tenant_id": advance.tenant_id,
            },
            # A retried batch folds the same events first, so it names the same charge.
            source_transaction=source,
        )
    except TransferFailed as exc:
        step = lifecycle.cancel(advance, f"transfer_failed:{exc.code}", lien_placed=True)
    else:
        step = servicing.disburse(advance, transfer_id, h.clock.now())
        # A dispute opened after the lien was placed but before the payout: the advance is
        # out now, so it is frozen like any disbursed advance when its order is disputed.
        found = await h.uow.orders.get(order.tenant_id, order.order_id)
        disputes = found[1] if found else {}
        if disputes:
            frozen, events = credit.freeze(step[0], sorted(disputes)[0])
            step = frozen, [*step[1], *events]
    await h.apply(advance, step)


async def on_lien_refused(h: Handling, p: ev.LienRefused) -> None:
    """Escrow would not place the lien: the advance is cancelled before any money moved."""
    advance = await h.advance(p.advance_id)
    if advance is None:
        return
    reason = "lien_refused:" + ",".join(p.reasons)
    await h.apply(advance, lifecycle.cancel(advance, reason, lien_placed=False))


# --- the batch -------------------------------------------------------------------------


@dataclass
class _Batch:
    """The batch's orders as folded so far, which to write back, which have a live advance."""

    orders: dict[OrderKey, Found]
    dirty: set[OrderKey] = field(default_factory=set)
    with_advance: set[OrderKey] = field(default_factory=set)


async def _apply_one(h: Handling, batch: _Batch, payload: EventModel) -> None:
    """Fold the event into its order; its effect on the advance, if any, in a savepoint."""
    key = _key(h.env, payload)
    if isinstance(payload, ev.OrderCreated):
        batch.orders[key] = (order_created(h.env.tenant_id, payload, h.env.occurred_at), {})
        batch.dirty.add(key)
        return
    found = batch.orders.get(key)
    if found is None:
        raise PermanentFailure(f"{h.env.type} for an order financing never saw created")
    order, disputes = fold(*found, payload)
    if _acts_on_advance(payload, key in batch.with_advance):
        async with h.uow.savepoint():  # the effect and the order it saw, or neither
            await h.uow.orders.put(order, disputes)
            await _on_event(h, payload, order)
    batch.orders[key] = (order, disputes)
    batch.dirty.add(key)


async def _on_event(h: Handling, p: EventModel, order: OrderView) -> None:
    if isinstance(p, ev.MilestoneReleased):
        await on_milestone_released(h, p)
    elif isinstance(p, ev.DisputeOpened | ev.DisputeResolved):
        await on_dispute_changed(h, p, order)
    elif isinstance(p, ev.Refunded | ev.Cancelled | ev.Completed):
        await on_money_left(h, order)
    elif isinstance(p, ev.LienPlaced):
        await on_lien_placed(h, p, order)
    elif isinstance(p, ev.LienRefused):
        await on_lien_refused(h, p)


def _key(env: Envelope, p: EventModel) -> OrderKey:
    order_id = getattr(p, "order_id", None)
    return env.tenant_id, order_id if isinstance(order_id, str) else env.subject


def _acts_on_advance(p: EventModel, has_live_advance: bool) -> bool:
    """Whether the event may touch an advance (otherwise it only folds the order)."""
    if isinstance(p, ev.LienPlaced | ev.LienRefused):
        return True
    if isinstance(p, ev.MilestoneReleased):
        return p.lien_repayment != 0 and p.advance_id is not None
    if isinstance(p, ev.Funded | ev.LienReleased):
        return False
    return has_live_advance  # disputes, refunds, cancellation, completion: the live advance
