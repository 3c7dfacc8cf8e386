"""``service_layer.escrow.EscrowHoldings`` on escrow's public API, over httpx."""

from __future__ import annotations

from datetime import datetime

import httpx

from services.ledger.domain.recon import EscrowHeld
from services.ledger.service_layer.errors import EscrowUnreadable


class EscrowHeldApi:
    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None) -> None:
        self._base, self._client = base_url.rstrip("/"), client

    async def held(self, credentials: str, as_of: datetime) -> list[EscrowHeld]:
        client = self._client or httpx.AsyncClient(timeout=30)
        try:
            r = await client.get(
                f"{self._base}/v1/escrow/held", params={"as_of": as_of.isoformat()},
                headers={"Authorization": f"Bearer {credentials}"},
            )  # fmt: skip
            if r.status_code != 200:
                raise EscrowUnreadable(f"escrow answered {r.status_code}")
            return [
                EscrowHeld(o["order_id"], o["currency"], int(o["held"]), int(o["collected"]))
                for o in r.json()["orders"]
            ]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise EscrowUnreadable(f"escrow could not be read: {type(exc).__name__}") from exc
        finally:
            if self._client is None:
                await client.aclose()
