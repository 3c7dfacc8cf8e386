"""Finance: escrow held over time, platform fee revenue and financing fee income per month
(from one trial balance per month end), drawn by the vendored Chart.js over the table that
holds the figures (the table alone without JavaScript)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.ledger import LedgerClient
from services.console.domain import trends
from services.console.entrypoints.http.deps import Container, SignedIn, render
from shared.money import exponent

router = APIRouter(prefix="/finance")
LOOKUPS = 6  # trial balances read at once


async def balances_at(ledger: LedgerClient, ends: list[datetime]) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(LOOKUPS)

    async def one(when: datetime) -> dict[str, Any]:
        async with gate:
            return await ledger.trial_balance(when)

    return list(await asyncio.gather(*(one(e) for e in ends)))


@router.get("/trends", include_in_schema=False)
async def trend_page(
    request: Request, session: SignedIn, c: Container, currency: str | None = None,
    months: int = 12,
) -> Response:  # fmt: skip
    span = min(max(months, 1), 36)
    ends = trends.month_ends(c.clock.now(), span)
    balances = await balances_at(c.ledger(str(session.api_key)), ends)
    available = sorted({cur for tb in balances for cur in trends.currencies(tb)})
    chosen = currency if currency in available else (available[0] if available else None)
    rows = trends.months(ends, balances, chosen) if chosen else []
    return render(
        request, "finance/trends.html", rows=rows, currency=chosen, currencies=available,
        exponent=exponent(chosen) if chosen else 2, months=span,
    )  # fmt: skip
