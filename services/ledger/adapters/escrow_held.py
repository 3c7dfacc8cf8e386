"""What the escrow service says each order holds (``held_after`` of its latest money event),
kept for the three-way check against the ledger's escrow-held balances."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.ledger.domain.recon import HeldReport, latest_reports

__all__ = ["HeldReport", "record_held"]

_UPSERT = """
INSERT INTO escrow_held_reports AS r (tenant_id, order_id, currency, held_after, as_of, event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::uuid[])
ON CONFLICT (tenant_id, order_id, currency) DO UPDATE
SET held_after = excluded.held_after, as_of = excluded.as_of, event_id = excluded.event_id
WHERE (excluded.as_of, excluded.event_id) > (r.as_of, r.event_id)
"""


async def record_held(pg: asyncpg.Connection, reports: Sequence[HeldReport]) -> None:
    """Keep the latest report per order (by event time, then UUIDv7 event id)."""
    rows = latest_reports(reports)
    if not rows:
        return
    await pg.execute(
        _UPSERT,
        [r.tenant_id for r in rows],
        [r.order_id for r in rows],
        [r.currency for r in rows],
        [r.held_after for r in rows],
        [r.as_of for r in rows],
        [r.event_id for r in rows],
    )
