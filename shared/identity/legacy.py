"""Moving the keys out of the services' own ``api_keys`` tables, where they used to live.

Before the identity database, ``tradeflow apikey`` wrote the same hashed key into each
service's database. ``copy_legacy_keys`` copies a service's rows into identity; it is run by
``shared.migrations.upgrade`` right before the service's backbone migration that drops the
old table, and it is idempotent: the same key (by hash) copied from three services is one
identity key, revoked if any copy was. Only the hash was ever stored, so imported keys have
no hint; their ids are derived from the hash, so running the copy again finds the same ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningInsert

from shared.identity.tables import api_keys

LEGACY_TABLE = "api_keys"


@dataclass(frozen=True)
class CopiedKeys:
    new: int  # keys identity did not have yet
    seen: frozenset[tuple[str, bool]]  # (key_hash, revoked) of every row copied


NOTHING = CopiedKeys(0, frozenset())


async def has_legacy_table(conn: AsyncConnection) -> bool:
    found = await conn.execute(sa.text("SELECT to_regclass('public.api_keys') IS NOT NULL"))
    return bool(found.scalar_one())


async def _legacy_rows(conn: AsyncConnection) -> list[sa.Row[Any]]:
    columns = set(
        (
            await conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND table_name = :t"
                ),
                {"t": LEGACY_TABLE},
            )
        ).scalars()
    )
    # A table from before backbone_0003 has no party_id.
    party = "party_id" if "party_id" in columns else "NULL::text AS party_id"
    query = f"SELECT key_hash, tenant_id, scopes, {party}, name, created_at, revoked_at FROM {LEGACY_TABLE}"
    return list(await conn.execute(sa.text(query)))


def legacy_key_id(key_hash: str) -> str:
    return "key_" + hashlib.sha256(f"tradeflow-legacy:{key_hash}".encode()).hexdigest()[:24]


async def copy_legacy_keys(
    service: AsyncConnection, identity: AsyncConnection, source: str
) -> CopiedKeys:
    """Copy the keys of one service database into identity."""
    if not await has_legacy_table(service):
        return NOTHING
    rows = await _legacy_rows(service)
    if not rows:
        return NOTHING
    values = [
        {
            "key_id": legacy_key_id(r.key_hash),
            "key_hash": r.key_hash,
            "hint": None,
            "tenant_id": r.tenant_id,
            "scopes": list(r.scopes),
            "party_id": r.party_id,
            "name": r.name,
            "created_at": r.created_at,
            "created_by": f"import:{source}",
            "revoked_at": r.revoked_at,
            "revoked_by": f"import:{source}" if r.revoked_at is not None else None,
        }
        for r in rows
    ]
    insert = pg_insert(api_keys).values(values)
    revoked_at = sa.func.coalesce(api_keys.c.revoked_at, insert.excluded.revoked_at)
    revoked_by = sa.func.coalesce(api_keys.c.revoked_by, insert.excluded.revoked_by)
    upsert: ReturningInsert[tuple[bool]] = insert.on_conflict_do_update(
        index_elements=[api_keys.c.key_hash],
        set_={"revoked_at": revoked_at, "revoked_by": revoked_by},
    ).returning(sa.literal_column("xmax = 0").label("inserted"))  # xmax 0: a new row
    new = sum(1 for r in await identity.execute(upsert) if r.inserted)
    return CopiedKeys(new, frozenset((r.key_hash, r.revoked_at is not None) for r in rows))
