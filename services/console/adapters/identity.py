"""Whom an API key acts for: ``GET /v1/api-keys/current`` (served by every service; the
console asks the ledger)."""

from __future__ import annotations

from typing import Any

from services.console.adapters.api import ServiceApi


async def current_key(api: ServiceApi) -> dict[str, Any]:
    """``{key_id, name, tenant_id, scopes, party_id, expires_at, ...}`` of the key."""
    found: dict[str, Any] = await api.request("GET", "/v1/api-keys/current")
    return found
