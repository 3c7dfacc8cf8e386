"""The SQL of FX in the books (ledger_0009): closing rates finance imports, the tenant's
reporting currency, and the open escrow balances a revaluation values."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.ledger.domain.fx import ClosingRate, OpenHeld

_ADD_RATE = """
INSERT INTO fx_closing_rates (tenant_id, base, quote, rate, as_of, source, recorded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, base, quote, as_of) DO NOTHING RETURNING 1
"""
_RATES = """
SELECT base, quote, rate, as_of, source FROM fx_closing_rates
WHERE tenant_id = $1 AND as_of <= $2 ORDER BY base, quote, as_of
"""
_SET_REPORTING = """
INSERT INTO reporting_currencies (tenant_id, currency, set_by) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id) DO UPDATE SET currency = $2, set_by = $3, set_at = now()
"""
# Escrow held per order (natural: a credit balance is positive) as of a moment, with the
# first time the order's escrow was credited.
_OPEN_HELD = """
SELECT a.subledger, a.currency, -sum(p.amount)::bigint, min(p.posted_at)
FROM accounts a JOIN postings p ON p.account_id = a.id
WHERE a.tenant_id = $1 AND a.code = 'escrow_held' AND p.posted_at < $2
GROUP BY a.subledger, a.currency HAVING sum(p.amount) <> 0
ORDER BY a.currency, a.subledger
"""


async def add_rate(pg: asyncpg.Connection, tenant_id: str, r: ClosingRate, actor: str) -> bool:
    """Whether the rate was recorded (False: the pair has a rate at that as-of already)."""
    row = await pg.fetchval(_ADD_RATE, tenant_id, r.base, r.quote, r.rate, r.as_of, r.source, actor)
    return row is not None


async def rates(pg: asyncpg.Connection, tenant_id: str, as_of: datetime) -> list[ClosingRate]:
    return [ClosingRate(*row) for row in await pg.fetch(_RATES, tenant_id, as_of)]


async def set_reporting(pg: asyncpg.Connection, tenant_id: str, currency: str, actor: str) -> None:
    await pg.execute(_SET_REPORTING, tenant_id, currency, actor)


async def reporting(pg: asyncpg.Connection, tenant_id: str) -> str | None:
    value = await pg.fetchval(
        "SELECT currency FROM reporting_currencies WHERE tenant_id = $1", tenant_id
    )
    return str(value) if value is not None else None


async def open_held(pg: asyncpg.Connection, tenant_id: str, before: datetime) -> list[OpenHeld]:
    return [OpenHeld(*row) for row in await pg.fetch(_OPEN_HELD, tenant_id, before)]
