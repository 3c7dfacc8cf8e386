"""Who the tenant's finance users are: the names of its valid finance-scope API keys, read
from the identity database the API authenticates against (``shared/identity``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.identity.keys import list_api_keys


class IdentityFinanceUsers:
    def __init__(self, identity: AsyncEngine) -> None:
        self._identity = identity

    async def is_finance_user(self, tenant_id: str, actor: str) -> bool:
        async with self._identity.connect() as conn:
            keys = await list_api_keys(conn, tenant_id)
        return any(k.valid and "finance" in k.scopes and f"apikey:{k.name}" == actor for k in keys)
