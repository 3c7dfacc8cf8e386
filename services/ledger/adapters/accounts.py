"""Accounts are opened on first use: one row per (tenant, code, currency, sub-ledger)."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

AccountKey = tuple[str, str, str, str]  # tenant, code, currency, sub-ledger

_OPEN = """
INSERT INTO accounts (tenant_id, code, currency, subledger)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING
"""
_IDS = """
SELECT a.id, a.tenant_id, a.code, a.currency, a.subledger
FROM accounts a
JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(t, c, cur, s)
  ON a.tenant_id = k.t AND a.code = k.c AND a.currency = k.cur AND a.subledger = k.s
"""


async def account_ids(
    conn: asyncpg.Connection, keys: Iterable[AccountKey]
) -> dict[AccountKey, int]:
    """Ids of the accounts named by ``keys``, opening the missing ones. Two round trips."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    columns = [list(col) for col in zip(*wanted, strict=True)]
    await conn.execute(_OPEN, *columns)
    rows = await conn.fetch(_IDS, *columns)
    return {(r["tenant_id"], r["code"], r["currency"], r["subledger"]): r["id"] for r in rows}
