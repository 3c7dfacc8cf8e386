"""Period closes in SQL: the latest close of a tenant, a new close, the history of closes.

The rules (closes only move forward, only over the past) are ``domain/periods.py``'s; the
close use case locks the tenant's book first, so a close cannot interleave with a batch
being appended to it: every batch sees either the old or the new close.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.tables import period_closes


async def closed_through(conn: AsyncConnection, tenant_id: str) -> datetime | None:
    q = sa.select(sa.func.max(period_closes.c.closed_through)).where(
        period_closes.c.tenant_id == tenant_id
    )
    value: datetime | None = (await conn.execute(q)).scalar_one()
    return value


async def add_close(
    conn: AsyncConnection, tenant_id: str, through: datetime, actor: str, reason: str | None
) -> None:
    await conn.execute(
        period_closes.insert().values(
            tenant_id=tenant_id, closed_through=through, closed_by=actor, reason=reason
        )
    )


async def history(conn: AsyncConnection, tenant_id: str) -> list[sa.Row[Any]]:
    rows = await conn.execute(
        sa.select(period_closes)
        .where(period_closes.c.tenant_id == tenant_id)
        .order_by(period_closes.c.closed_through)
    )
    return list(rows)
