"""Timer firings -> ``service_layer.timers``: offer expiry, the daily fee amortisation.

Each runs in ``FinancingUnitOfWork.joining`` the timer worker's savepoint, which the worker
commits (or rolls back when the use case raises, and retries with backoff).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.bootstrap import FinancingContainer
from services.financing.service_layer import timers
from services.financing.service_layer.decisions import (
    FEE_AMORTIZATION,
    OFFER_EXPIRY,
    advance_of_amortization,
)
from services.financing.service_layer.unit_of_work import FinancingUnitOfWork
from shared.timers import Timer, TimerHandler


def handlers(c: FinancingContainer) -> Mapping[str, TimerHandler]:
    async def offer_expiry(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        async with FinancingUnitOfWork.joining(conn, c.topic) as uow:
            await timers.offer_expired(uow, timer.key, now)
            await uow.commit()

    async def fee_amortization(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        advance_id = advance_of_amortization(timer.key)
        async with FinancingUnitOfWork.joining(conn, c.topic) as uow:
            await timers.fee_amortization_due(uow, advance_id, now)
            await uow.commit()

    return {OFFER_EXPIRY: offer_expiry, FEE_AMORTIZATION: fee_amortization}
