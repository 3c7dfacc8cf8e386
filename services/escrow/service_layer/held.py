"""What escrow holds per order as of a moment: the other leg of the ledger's three-way check.

Read from the order's timeline of money events (each carries ``held_after``), so the answer
as of a past moment is what escrow held then, not now. ``collected`` is the money taken in
through Stripe for the order by then: Stripe fundings minus Stripe refunds, the figure the
ledger and Stripe's balance transactions also know (docs/ledger.md, "Three-way check").

A read with nothing to decide: it takes the ``HeldBalances`` reader, not a unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.escrow.service_layer.commands import Caller


@dataclass(frozen=True, slots=True)
class OrderHeld:
    order_id: str
    currency: str
    held: int  # minor units: held_after of the order's last money event at or before as_of
    collected: int  # minor units: Stripe fundings minus Stripe refunds until then


class HeldBalances(Protocol):
    async def as_of(self, tenant_id: str, at: datetime) -> list[OrderHeld]:
        """Every order of the tenant with a money event at or before ``at``, by order id."""


async def held_as_of(balances: HeldBalances, caller: Caller, at: datetime) -> list[OrderHeld]:
    return await balances.as_of(caller.tenant_id, at)
