"""Per-order held balances as of a moment, from the escrow timeline's money events."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.escrow.service_layer.held import OrderHeld

# The latest held_after per order (by time, then timeline order) and the Stripe money in.
_HELD = sa.text("""
SELECT order_id, data->>'currency' AS currency,
       (array_agg((data->>'held_after')::bigint ORDER BY occurred_at DESC, seq DESC))[1] AS held,
       coalesce(sum((data->>'amount')::bigint) FILTER (
           WHERE event_type = 'escrow.funded' AND data->>'method' = 'stripe'), 0)
       - coalesce(sum((data->>'amount')::bigint) FILTER (
           WHERE event_type = 'escrow.refunded' AND data->>'stripe_refund_id' IS NOT NULL), 0)
         AS collected
FROM escrow_timeline
WHERE tenant_id = :tenant AND occurred_at <= :at AND data ? 'held_after'
GROUP BY order_id, data->>'currency'
ORDER BY order_id, currency
""")


class SqlHeldBalances:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def as_of(self, tenant_id: str, at: datetime) -> list[OrderHeld]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(_HELD, {"tenant": tenant_id, "at": at})
            return [OrderHeld(r.order_id, r.currency, r.held, r.collected) for r in rows]
