"""What reconciliation needs from Stripe: its balance transactions.
``adapters/stripe_source.py`` implements it on the Stripe API."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.ledger.domain.recon import StripeLine


class StripeBalance(Protocol):
    async def pull(
        self,
        *,
        tenant_id: str,
        account: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[StripeLine]:
        """The tenant's balance transactions created in [start, end): every one of its own
        ``account`` (``Stripe-Account`` header), or without one, those of the platform
        account whose source object's metadata names ``tenant_id``. ``StripeUnreadable``
        when Stripe refuses or cannot be reached."""


class StripeAccounts(Protocol):
    async def verify(self, account: str) -> None:
        """That ``account`` is a Stripe account the platform's key can read (a connected
        account of the platform): ``StripeAccountUnknown`` when Stripe says there is no
        such account, ``StripeUnreadable`` when Stripe refuses or cannot be reached."""
