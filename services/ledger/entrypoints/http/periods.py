"""Period close: list the closes, close the books through a moment."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.ledger.entrypoints.http.deps import Container, Finance, at_or_now, caller
from services.ledger.entrypoints.http.errors import answered
from services.ledger.entrypoints.http.schemas import PeriodClose, PeriodClosed, PeriodClosePublic
from services.ledger.service_layer import commands, queries
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/ledger/periods", tags=["ledger"])


@router.get("")
async def closes(who: Finance, c: Container) -> list[PeriodClosePublic]:
    return [
        PeriodClosePublic.of(p) for p in await queries.period_closes(c.unit_of_work(), caller(who))
    ]


@router.post("/close", status_code=status.HTTP_201_CREATED)
async def close(body: PeriodClose, who: Finance, c: Container) -> PeriodClosed:
    """Close the books through ``through``: later postings dated before it are refused
    (staff) or moved to the open period keeping their original date (late events)."""
    through = at_or_now(body.through, c.clock)
    closed = PeriodClosed(closed_through=through, closed_by=who.actor)
    with answered():
        await commands.close_period(
            c.unit_of_work(), caller(who), through, body.reason, c.clock.now(),
            lambda: answer(closed),  # registered in the close's commit
        )  # fmt: skip
    return closed
