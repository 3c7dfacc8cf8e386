"""Snapshots of whole databases (services and identity), to prove a refused request changed
nothing."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

Snapshot = dict[str, dict[str, list[str]]]

_TABLES = sa.text(
    "SELECT table_name FROM information_schema.tables"
    " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
)
_TENANT_TABLES = sa.text(
    "SELECT table_name FROM information_schema.columns"
    " WHERE table_schema = 'public' AND column_name = 'tenant_id'"
)


async def snapshot(engines: Mapping[str, AsyncEngine], tenant: str | None = None) -> Snapshot:
    """Every row of every table of every database, as sorted JSON text.

    With ``tenant``, only the tables that carry a ``tenant_id``, and of them only that
    tenant's rows: what the tenant can see must not change when another tenant acts.
    """
    taken: Snapshot = {}
    for service, engine in engines.items():
        async with engine.connect() as conn:
            tables = list((await conn.execute(_TABLES)).scalars())
            if tenant is not None:
                scoped = set((await conn.execute(_TENANT_TABLES)).scalars())
                tables = [t for t in tables if t in scoped]
            rows: dict[str, list[str]] = {}
            for table in tables:
                # Names from the catalog. A key's last_used_at moves whenever it is used: not
                # a change the request made to anything.
                query = (
                    f"""SELECT (row_to_json(t)::jsonb - 'last_used_at')::text FROM "{table}" t"""
                )
                params = {}
                if tenant is not None:
                    query += " WHERE t.tenant_id = :tenant"
                    params["tenant"] = tenant
                found = await conn.execute(sa.text(query), params)
                rows[table] = sorted(found.scalars())
            taken[service] = rows
    return taken


def changes(before: Snapshot, after: Snapshot) -> dict[str, list[str]]:
    """The tables whose rows differ, per service (empty when nothing changed)."""
    diff: dict[str, list[str]] = {}
    for service in before.keys() | after.keys():
        b, a = before.get(service, {}), after.get(service, {})
        changed = sorted(t for t in b.keys() | a.keys() if b.get(t) != a.get(t))
        if changed:
            diff[service] = changed
    return diff
