"""Accounts are opened on first use: one row per (tenant, code, currency, sub-ledger)."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

AccountKey = tuple[str, str, str, str]  # tenant, code, currency, sub-ledger

_KEYS = "unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(t, c, cur, s)"
# A lateral probe of the unique index per key: a hash join would read the whole accounts
# table (one row per order's sub-ledger, so it only grows) for every batch.
_IDS = f"""
SELECT a.id, a.tenant_id, a.code, a.currency, a.subledger
FROM {_KEYS} CROSS JOIN LATERAL (
    SELECT a.id, a.tenant_id, a.code, a.currency, a.subledger FROM accounts a
    WHERE a.tenant_id = k.t AND a.code = k.c AND a.currency = k.cur AND a.subledger = k.s
    LIMIT 1  -- the key is unique; the LIMIT also keeps the planner from flattening the probe
) a
"""
# Opens the missing accounts and returns every id in one statement: the INSERT's RETURNING
# gives the accounts it opened; the others are probed in the index (on the statement's
# snapshot, which does not see the ones just opened). An account another transaction
# committed after that snapshot is in neither; ``account_ids`` then asks again (``_IDS``,
# a fresh snapshot).
_OPEN_AND_IDS = f"""
WITH opened AS (
    INSERT INTO accounts (tenant_id, code, currency, subledger)
    SELECT k.t, k.c, k.cur, k.s FROM {_KEYS}
    ON CONFLICT DO NOTHING
    RETURNING id, tenant_id, code, currency, subledger
)
SELECT id, tenant_id, code, currency, subledger FROM opened
UNION ALL
{_IDS}
WHERE NOT EXISTS (
    SELECT FROM opened o
    WHERE o.tenant_id = k.t AND o.code = k.c AND o.currency = k.cur AND o.subledger = k.s
)
"""


async def account_ids(
    conn: asyncpg.Connection, keys: Iterable[AccountKey]
) -> dict[AccountKey, int]:
    """Ids of the accounts named by ``keys``, opening the missing ones. One round trip, a
    second only when a concurrent transaction opened one of them at the same moment."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    columns = [list(col) for col in zip(*wanted, strict=True)]
    rows = await conn.fetch(_OPEN_AND_IDS, *columns)
    if len(rows) < len(wanted):
        rows = await conn.fetch(_IDS, *columns)
    return {(r["tenant_id"], r["code"], r["currency"], r["subledger"]): r["id"] for r in rows}
