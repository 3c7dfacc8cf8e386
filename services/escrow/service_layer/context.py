"""What the escrow use cases run against: database, clock, outbox topic, payment gateway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.escrow.service_layer.gateway import PaymentGateway
from shared.clock import Clock

SOURCE = "escrow"
# A reserved payout/refund not completed inline (crash, Stripe down) is retried by the
# settlement timer after this grace period.
SETTLE_GRACE = timedelta(seconds=30)
INSPECTION_TIMER = "escrow.inspection_window"
SETTLEMENT_TIMER = "escrow.settlement"


@dataclass
class EscrowContext:
    engine: AsyncEngine
    clock: Clock
    topic: str
    gateway: PaymentGateway
