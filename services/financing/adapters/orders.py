"""The read model of orders (from escrow's events) and the tenants' financing policies."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.tables import escrow_watermarks, orders, policies
from services.financing.domain.fx import PayoutLock
from services.financing.domain.orders import Disputes, MilestoneView, OrderView
from services.financing.domain.policy import Policy

if TYPE_CHECKING:
    from services.financing.service_layer.unit_of_work import Found, OrderKey

_MILESTONE_FIELDS = [f.name for f in fields(MilestoneView)]  # asdict() without its deep copies


def _found(row: Any) -> Found:
    view = OrderView(
        tenant_id=row.tenant_id,
        order_id=row.order_id,
        buyer_id=row.buyer_id,
        supplier_id=row.supplier_id,
        currency=row.currency,
        total=row.total,
        created_at=row.created_at,
        milestones=tuple(MilestoneView(**m) for m in row.milestones),
        platform_fee_bps=row.platform_fee_bps,
        platform_fee_fixed=row.platform_fee_fixed,
        funded_total=row.funded_total,
        released_total=row.released_total,
        refunded_total=row.refunded_total,
        disputed_total=sum(d["amount"] for d in row.disputes.values()),
        status=row.status,
        supplier_account_id=row.supplier_account_id,
        funding_charge_id=row.funding_charge_id,
        funding_charge_amount=row.funding_charge_amount or 0,
        payout_currency=row.payout_currency or row.currency,
        payout_lock=None if row.payout_lock is None else PayoutLock.from_json(row.payout_lock),
    )
    return view, dict(row.disputes)


def _values(order: OrderView, disputes: Disputes) -> dict[str, Any]:
    return {
        "tenant_id": order.tenant_id,
        "order_id": order.order_id,
        "buyer_id": order.buyer_id,
        "supplier_id": order.supplier_id,
        "supplier_account_id": order.supplier_account_id,
        "currency": order.currency,
        "total": order.total,
        "created_at": order.created_at,
        "platform_fee_bps": order.platform_fee_bps,
        "platform_fee_fixed": order.platform_fee_fixed,
        "milestones": [{f: getattr(m, f) for f in _MILESTONE_FIELDS} for m in order.milestones],
        "disputes": disputes,
        "funded_total": order.funded_total,
        "released_total": order.released_total,
        "refunded_total": order.refunded_total,
        "status": order.status,
        "funding_charge_id": order.funding_charge_id,
        "funding_charge_amount": order.funding_charge_amount or None,
        "payout_currency": order.payout_currency,
        "payout_lock": None if order.payout_lock is None else order.payout_lock.to_json(),
    }


def keyed(tenant_id: Any, order_id: Any, keys: Collection[OrderKey]) -> Any:
    """``(tenant_id, order_id) IN keys``, as one statement whatever the number of keys."""
    pairs = sa.select(
        sa.func.unnest(sa.bindparam("key_tenants", [k[0] for k in keys], ARRAY(sa.Text))),
        sa.func.unnest(sa.bindparam("key_orders", [k[1] for k in keys], ARRAY(sa.Text))),
    )
    return sa.tuple_(tenant_id, order_id).in_(pairs)


_KEY = ("tenant_id", "order_id")
_upsert = pg_insert(orders)
_UPSERT = _upsert.on_conflict_do_update(
    index_elements=list(_KEY),
    set_={c.name: _upsert.excluded[c.name] for c in orders.columns if c.name not in _KEY},
)


class OrderRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, tenant_id: str, order_id: str) -> Found | None:
        """The order and its open disputes (dispute id -> {milestone_id, amount}), row-locked."""
        return (await self.lock([(tenant_id, order_id)])).get((tenant_id, order_id))

    async def lock(self, keys: Collection[OrderKey]) -> dict[OrderKey, Found]:
        """The orders there are of ``keys``, row-locked for the transaction in key order (so
        two transactions locking several orders never wait on each other in a circle)."""
        if not keys:
            return {}
        rows = await self.conn.execute(
            sa.select(orders)
            .where(keyed(orders.c.tenant_id, orders.c.order_id, keys))
            .order_by(orders.c.tenant_id, orders.c.order_id)
            .with_for_update()
        )
        return {(r.tenant_id, r.order_id): _found(r) for r in rows}

    async def put(self, order: OrderView, disputes: Disputes) -> None:
        await self.put_all([(order, disputes)])

    async def put_all(self, found: Sequence[Found]) -> None:
        """Insert or replace the orders (one statement), in key order."""
        if found:
            rows = sorted(
                (_values(o, d) for o, d in found), key=lambda v: (v["tenant_id"], v["order_id"])
            )
            await self.conn.execute(_UPSERT, rows)


class PolicyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, tenant_id: str, currency: str) -> Policy:
        """The tenant's policy for ``currency``, or the defaults when none was set."""
        row = (
            await self.conn.execute(
                sa.select(policies).where(
                    policies.c.tenant_id == tenant_id, policies.c.currency == currency
                )
            )
        ).first()
        if row is None:
            return Policy(currency=currency)
        return Policy(
            currency=currency,
            advance_rate_bps=row.advance_rate_bps,
            daily_fee_rate=Decimal(row.daily_fee_rate).normalize(),
            supplier_limit=row.supplier_limit,
            buyer_limit=row.buyer_limit,
            pair_limit=row.pair_limit,
            concentration_cap_bps=row.concentration_cap_bps,
            concentration_min_book=row.concentration_min_book,
            min_advance=row.min_advance,
            offer_ttl=timedelta(seconds=row.offer_ttl_seconds),
            days_by_kind=dict(row.days_by_kind),
            fx_haircut_bps=row.fx_haircut_bps,
        )

    async def put(self, tenant_id: str, policy: Policy, actor: str) -> None:
        values = {
            "advance_rate_bps": policy.advance_rate_bps,
            "daily_fee_rate": policy.daily_fee_rate,
            "supplier_limit": policy.supplier_limit,
            "buyer_limit": policy.buyer_limit,
            "pair_limit": policy.pair_limit,
            "concentration_cap_bps": policy.concentration_cap_bps,
            "concentration_min_book": policy.concentration_min_book,
            "min_advance": policy.min_advance,
            "offer_ttl_seconds": int(policy.offer_ttl.total_seconds()),
            "days_by_kind": policy.days_by_kind,
            "fx_haircut_bps": policy.fx_haircut_bps,
            "updated_by": actor,
        }
        stmt = pg_insert(policies).values(tenant_id=tenant_id, currency=policy.currency, **values)
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "currency"],
                set_={**values, "updated_at": sa.func.now()},
            )
        )


class EscrowProgressRepository:
    """How far financing has read each tenant's escrow events (``domain/arrival.py``)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def read_up_to(self, tenant_id: str) -> datetime | None:
        found: datetime | None = (
            await self.conn.execute(
                sa.select(escrow_watermarks.c.last_event_at).where(
                    escrow_watermarks.c.tenant_id == tenant_id
                )
            )
        ).scalar()
        return found

    async def advance(self, marks: Mapping[str, datetime]) -> None:
        """One statement per batch, in tenant order (two batches never wait in a circle)."""
        if not marks:
            return
        stmt = pg_insert(escrow_watermarks)
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id"],
                set_={
                    "last_event_at": sa.func.greatest(
                        escrow_watermarks.c.last_event_at, stmt.excluded.last_event_at
                    )
                },
            ),
            [{"tenant_id": t, "last_event_at": marks[t]} for t in sorted(marks)],
        )
