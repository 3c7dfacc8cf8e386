"""API keys for tests, issued straight into the identity database (as the operator would)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.identity.keys import create_api_key


async def new_key(
    identity: AsyncEngine,
    tenant: str,
    scopes: Iterable[str],
    name: str,
    party_id: str | None = None,
) -> str:
    """A new key of ``tenant``; returns the key itself."""
    async with identity.begin() as conn:
        issued = await create_api_key(conn, tenant, scopes, name, actor="test", party_id=party_id)
    return issued.raw


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}
