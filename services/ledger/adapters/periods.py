"""Period close: a tenant's books are closed through a moment; nothing is dated before it.

Closing locks the tenant's book, so it cannot interleave with a batch being appended to it:
every batch sees either the old or the new close. Closes only move forward.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.posting import driver, lock_books
from services.ledger.adapters.tables import period_closes


class PeriodCloseRefused(ValueError):
    pass


async def closed_through(conn: AsyncConnection, tenant_id: str) -> datetime | None:
    q = sa.select(sa.func.max(period_closes.c.closed_through)).where(
        period_closes.c.tenant_id == tenant_id
    )
    value: datetime | None = (await conn.execute(q)).scalar_one()
    return value


async def close_period(
    conn: AsyncConnection, tenant_id: str, through: datetime, actor: str, reason: str | None, now: datetime
) -> None:  # fmt: skip
    if through > now:
        raise PeriodCloseRefused("a period can only be closed once it is over")
    await lock_books(await driver(conn), [tenant_id])
    current = await closed_through(conn, tenant_id)
    if current is not None and through <= current:
        raise PeriodCloseRefused(f"the books are already closed through {current.isoformat()}")
    await conn.execute(
        period_closes.insert().values(
            tenant_id=tenant_id, closed_through=through, closed_by=actor, reason=reason
        )
    )


async def history(conn: AsyncConnection, tenant_id: str) -> list[dict[str, object]]:
    rows = await conn.execute(
        sa.select(period_closes)
        .where(period_closes.c.tenant_id == tenant_id)
        .order_by(period_closes.c.closed_through)
    )
    return [dict(r._mapping) for r in rows]
