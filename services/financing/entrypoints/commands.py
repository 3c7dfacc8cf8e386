"""Use cases behind the API: quote, accept, repay early, policy, default, write-off, recovery.

Each runs in one transaction given by the router. Limits are checked again at acceptance
under a per-tenant-and-currency advisory lock, so two concurrent acceptances cannot both
squeeze under the same limit. Row locks are always taken order first, then advance (as
escrow's events do), then the book, so no two transactions wait on each other in a circle.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.advances import AdvanceRepository
from services.financing.adapters.orders import OrderRepository, PolicyRepository
from services.financing.domain import credit, lifecycle, servicing
from services.financing.domain.advance import Advance
from services.financing.domain.sizing import Reason, Refusal, order_reasons, size
from services.financing.entrypoints.context import Deps, persist
from shared.events.envelope import new_event_id
from shared.http.errors import ApiError, not_found


def refused(advance_id: str | None, reasons: tuple[Reason, ...] | list[Reason]) -> ApiError:
    return ApiError(
        422,
        "advance_refused",
        "no advance can be offered: " + ", ".join(r.code for r in reasons),
        {"advance_id": advance_id, "reasons": [r.to_json() for r in reasons]},
    )


async def quote(
    conn: AsyncConnection,
    deps: Deps,
    tenant_id: str,
    supplier_id: str,
    order_id: str,
    amount: int | None,
    actor: str,
    *,
    others_hidden: bool = False,
) -> tuple[Advance, ApiError | None]:
    """Offer an advance on the order, or refuse with reasons.

    A sized refusal is recorded as a rejected advance (commit it, then answer the error).
    With ``others_hidden`` (a key bound to ``supplier_id``) another supplier's order is
    refused as ``order_unknown``, like an order that does not exist, not ``not_the_supplier``.
    """
    now = deps.clock.now()
    found = await OrderRepository(conn).get(tenant_id, order_id)
    order = found[0] if found else None
    if others_hidden and order is not None and order.supplier_id != supplier_id:
        order = None
    live = await AdvanceRepository(conn).live_for_order(tenant_id, order_id)
    reasons = order_reasons(order, supplier_id, live is not None)
    if order is None or reasons:
        raise refused(None, reasons)
    policy = await PolicyRepository(conn).get(tenant_id, order.currency)
    exposure = await AdvanceRepository(conn).exposure(
        tenant_id, order.currency, supplier_id, order.buyer_id
    )
    outcome = size(order, policy, exposure, now, amount)
    step = lifecycle.open_advance(
        f"adv_{new_event_id().hex}", order, supplier_id, outcome, policy, now
    )
    advance = await persist(conn, deps, step, actor=actor, now=now, new=True)
    if isinstance(outcome, Refusal):
        return advance, refused(advance.advance_id, outcome.reasons)
    return advance, None


async def _lock_book(conn: AsyncConnection, tenant_id: str, currency: str) -> None:
    key = sa.func.hashtextextended(f"financing:{tenant_id}:{currency}", 0)
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def load(
    conn: AsyncConnection,
    tenant_id: str,
    advance_id: str,
    supplier_id: str | None = None,
    *,
    lock: bool = True,
) -> Advance:
    """The tenant's advance (another tenant's, or another supplier's, is a 404)."""
    advance = await AdvanceRepository(conn).get(advance_id, tenant_id=tenant_id, lock=lock)
    if advance is None or (supplier_id is not None and advance.supplier_id != supplier_id):
        raise not_found("advance", advance_id)
    return advance


async def accept(
    conn: AsyncConnection, deps: Deps, tenant_id: str, supplier_id: str, advance_id: str, actor: str
) -> Advance:
    now = deps.clock.now()
    # Locks in the order escrow's events take them: the order row, then its advance (then
    # the book). Advance first, a second acceptance deadlocked with lien_placed.
    seen = await load(conn, tenant_id, advance_id, supplier_id, lock=False)
    found = await OrderRepository(conn).get(tenant_id, seen.order_id)
    if found is None:
        raise not_found("order", seen.order_id)
    order = found[0]
    advance = await load(conn, tenant_id, advance_id, supplier_id)
    await _lock_book(conn, tenant_id, advance.currency)
    repo = AdvanceRepository(conn)
    live = await repo.live_for_order(tenant_id, advance.order_id)
    other_live = live is not None and live.advance_id != advance.advance_id
    reasons = order_reasons(order, supplier_id, other_live)
    if not reasons and advance.state == "offered" and now < advance.expires_at:
        policy = await PolicyRepository(conn).get(tenant_id, order.currency)
        exposure = await repo.exposure(tenant_id, order.currency, supplier_id, order.buyer_id)
        outcome = size(order, policy, exposure, now, advance.principal)
        reasons = list(outcome.reasons) if isinstance(outcome, Refusal) else []
    if reasons:
        raise refused(advance.advance_id, reasons)
    return await persist(conn, deps, lifecycle.accept(advance, now, actor), actor=actor, now=now)


async def repay_early(
    conn: AsyncConnection,
    deps: Deps,
    tenant_id: str,
    supplier_id: str,
    advance_id: str,
    payment_id: str | None,
    actor: str,
) -> Advance:
    now = deps.clock.now()
    advance = await load(conn, tenant_id, advance_id, supplier_id)
    step = servicing.repay_early(advance, now, actor, payment_id)
    return await persist(conn, deps, step, actor=actor, now=now)


async def mark_default(
    conn: AsyncConnection, deps: Deps, tenant_id: str, advance_id: str, reason: str, actor: str
) -> Advance:
    now = deps.clock.now()
    advance = await load(conn, tenant_id, advance_id)
    return await persist(
        conn, deps, credit.mark_default(advance, now, actor, reason), actor=actor, now=now
    )


async def write_off(
    conn: AsyncConnection, deps: Deps, tenant_id: str, advance_id: str, reason: str, actor: str
) -> Advance:
    now = deps.clock.now()
    advance = await load(conn, tenant_id, advance_id)
    return await persist(conn, deps, credit.write_off(advance, actor, reason), actor=actor, now=now)


async def record_recovery(
    conn: AsyncConnection,
    deps: Deps,
    tenant_id: str,
    advance_id: str,
    amount: int,
    payment_id: str | None,
    actor: str,
) -> Advance:
    now = deps.clock.now()
    advance = await load(conn, tenant_id, advance_id)
    step = credit.record_recovery(advance, amount, actor, payment_id)
    return await persist(conn, deps, step, actor=actor, now=now)
