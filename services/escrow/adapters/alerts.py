"""The operations records on PostgreSQL (``service_layer/alerts.py`` says what they are)."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters.tables import (
    escrows,
    parked_deadlines,
    refund_breaks,
    stuck_refunds,
)
from services.escrow.service_layer.alerts import (
    ParkedDeadline,
    RefundBreak,
    Resolution,
    StuckRefund,
)

_STUCK = [f.name for f in fields(StuckRefund)]
_BREAK = [f.name for f in fields(RefundBreak)]
_PARKED = [f.name for f in fields(ParkedDeadline)]


def _stuck(row: sa.Row) -> StuckRefund:
    return StuckRefund(**{name: getattr(row, name) for name in _STUCK})


class SqlRefundAlerts:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def refused(self, first: StuckRefund) -> StuckRefund:
        insert = pg_insert(stuck_refunds).values(**asdict(first))
        stmt = insert.on_conflict_do_update(
            index_elements=["refund_id"],
            set_={
                "attempts": stuck_refunds.c.attempts + 1,
                "last_error": insert.excluded.last_error,
                "last_refused_at": insert.excluded.last_refused_at,
            },
        ).returning(*stuck_refunds.c)
        return _stuck((await self._conn.execute(stmt)).one())

    async def alerted(self, refund_id: str, at: datetime) -> None:
        await self._conn.execute(
            stuck_refunds.update()
            .where(stuck_refunds.c.refund_id == refund_id, stuck_refunds.c.alerted_at.is_(None))
            .values(alerted_at=at)
        )

    async def stuck(self, tenant_id: str, limit: int) -> list[StuckRefund]:
        # Still pending: the escrow's state lists the refund with status "pending".
        pending = escrows.c.state["refunds"].contains(
            sa.func.jsonb_build_array(
                sa.func.jsonb_build_object(
                    "refund_id", stuck_refunds.c.refund_id, "status", "pending"
                )
            )
        )
        rows = await self._conn.execute(
            sa.select(stuck_refunds)
            .join(escrows, escrows.c.order_id == stuck_refunds.c.order_id)
            .where(
                stuck_refunds.c.tenant_id == tenant_id,
                stuck_refunds.c.alerted_at.is_not(None),
                pending,
            )
            .order_by(stuck_refunds.c.alerted_at, stuck_refunds.c.refund_id)
            .limit(limit)
        )
        return [_stuck(r) for r in rows]

    async def add_break(self, found: RefundBreak) -> bool:
        stmt = (
            pg_insert(refund_breaks)
            .values(**asdict(found))
            .on_conflict_do_nothing()
            .returning(refund_breaks.c.stripe_refund_id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def breaks(
        self, tenant_id: str, limit: int, status: str | None = None
    ) -> list[RefundBreak]:
        query = sa.select(refund_breaks).where(refund_breaks.c.tenant_id == tenant_id)
        if status == "open":
            query = query.where(refund_breaks.c.resolved_at.is_(None))
        elif status == "resolved":
            query = query.where(refund_breaks.c.resolved_at.is_not(None))
        rows = await self._conn.execute(
            query.order_by(
                refund_breaks.c.detected_at.desc(), refund_breaks.c.stripe_refund_id
            ).limit(limit)
        )
        return [RefundBreak(**{name: getattr(r, name) for name in _BREAK}) for r in rows]

    async def park_deadline(self, parked: ParkedDeadline) -> bool:
        stmt = (
            pg_insert(parked_deadlines)
            .values(**asdict(parked))
            .on_conflict_do_nothing()
            .returning(parked_deadlines.c.order_id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def parked_deadlines(self, tenant_id: str, limit: int) -> list[ParkedDeadline]:
        rows = await self._conn.execute(
            sa.select(parked_deadlines)
            .where(parked_deadlines.c.tenant_id == tenant_id)
            .order_by(parked_deadlines.c.parked_at.desc(), parked_deadlines.c.order_id)
            .limit(limit)
        )
        return [ParkedDeadline(**{name: getattr(r, name) for name in _PARKED}) for r in rows]

    async def stuck_refund(self, tenant_id: str, refund_id: str) -> StuckRefund | None:
        row = (
            await self._conn.execute(
                sa.select(stuck_refunds)
                .where(
                    stuck_refunds.c.tenant_id == tenant_id,
                    stuck_refunds.c.refund_id == refund_id,
                )
                .with_for_update()
            )
        ).first()
        return None if row is None else _stuck(row)

    async def resolve_stuck(self, refund_id: str, resolution: Resolution) -> None:
        await self._conn.execute(
            stuck_refunds.update()
            .where(stuck_refunds.c.refund_id == refund_id)
            .values(**asdict(resolution))
        )

    async def refund_break(self, tenant_id: str, stripe_refund_id: str) -> RefundBreak | None:
        row = (
            await self._conn.execute(
                sa.select(refund_breaks)
                .where(
                    refund_breaks.c.tenant_id == tenant_id,
                    refund_breaks.c.stripe_refund_id == stripe_refund_id,
                )
                .with_for_update()
            )
        ).first()
        return None if row is None else RefundBreak(**{n: getattr(row, n) for n in _BREAK})

    async def resolve_break(
        self, tenant_id: str, stripe_refund_id: str, resolution: Resolution
    ) -> None:
        await self._conn.execute(
            refund_breaks.update()
            .where(
                refund_breaks.c.tenant_id == tenant_id,
                refund_breaks.c.stripe_refund_id == stripe_refund_id,
            )
            .values(**asdict(resolution))
        )
