"""What reconciliation needs from Stripe: its balance transactions.
``adapters/stripe_source.py`` implements it on the Stripe API."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.ledger.domain.recon import StripeLine


class StripeBalance(Protocol):
    async def pull(self, since: datetime | None = None) -> list[StripeLine]:
        """Every balance transaction (created at or after ``since``); ``StripeUnreadable``
        when Stripe refuses or cannot be reached."""
