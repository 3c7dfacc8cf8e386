"""API keys for tests, issued straight into the identity database (as the operator would),
and the one place tests revoke a key."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.identity.keys import create_api_key, hash_key, revoke_api_key
from shared.identity.tables import api_keys


async def new_key(
    identity: AsyncEngine,
    tenant: str,
    scopes: Iterable[str],
    name: str,
    party_id: str | None = None,
    raw: str | None = None,
) -> str:
    """A new key of ``tenant``; returns the key itself."""
    async with identity.begin() as conn:
        issued = await create_api_key(
            conn, tenant, scopes, name, actor="test", party_id=party_id, raw=raw
        )
    return issued.raw


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


async def revoke(identity: AsyncEngine, raw_key: str) -> None:
    """Revoke ``raw_key`` everywhere (it lives once, in the identity database)."""
    async with identity.begin() as conn:
        key_id = (
            await conn.execute(
                sa.select(api_keys.c.key_id).where(api_keys.c.key_hash == hash_key(raw_key))
            )
        ).scalar_one()
        await revoke_api_key(conn, key_id, actor="test")
