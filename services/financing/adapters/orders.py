"""The read model of orders (from escrow's events) and the tenants' financing policies."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.tables import orders, policies
from services.financing.domain.orders import MilestoneView, OrderView
from services.financing.domain.policy import Policy


class OrderRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, tenant_id: str, order_id: str) -> tuple[OrderView, dict[str, Any]] | None:
        """The order and its open disputes (dispute id -> {milestone_id, amount})."""
        row = (
            await self.conn.execute(
                sa.select(orders)
                .where(orders.c.tenant_id == tenant_id, orders.c.order_id == order_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
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
        )
        return view, dict(row.disputes)

    async def put(self, order: OrderView, disputes: dict[str, Any]) -> None:
        values = {
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
            "milestones": [asdict(m) for m in order.milestones],
            "disputes": disputes,
            "funded_total": order.funded_total,
            "released_total": order.released_total,
            "refunded_total": order.refunded_total,
            "status": order.status,
        }
        stmt = pg_insert(orders).values(**values)
        keys = ("tenant_id", "order_id")
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_={k: v for k, v in values.items() if k not in keys},
            )
        )


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
            "updated_by": actor,
        }
        stmt = pg_insert(policies).values(tenant_id=tenant_id, currency=policy.currency, **values)
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "currency"],
                set_={**values, "updated_at": sa.func.now()},
            )
        )
