"""What the three-way check needs from escrow: what it holds per order as of a moment.
``adapters/escrow_source.py`` implements it on escrow's API (``GET /v1/escrow/held``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.ledger.domain.recon import EscrowHeld


class EscrowHoldings(Protocol):
    async def held(self, credentials: str, as_of: datetime) -> list[EscrowHeld]:
        """Per order, what escrow held at ``as_of`` and the money taken in through Stripe,
        asked with the caller's finance key (``credentials``: its bearer token), so escrow
        answers for the caller's tenant only. ``EscrowUnreadable`` when it cannot answer."""
