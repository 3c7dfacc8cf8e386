"""API keys in tests: the one place that revokes a key."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import api_keys
from shared.http.auth import hash_key


async def revoke(engine: AsyncEngine, raw_key: str) -> None:
    """Revoke ``raw_key`` on the service database behind ``engine``."""
    async with engine.begin() as conn:
        await conn.execute(
            api_keys.update()
            .where(api_keys.c.key_hash == hash_key(raw_key))
            .values(revoked_at=sa.func.now())
        )
