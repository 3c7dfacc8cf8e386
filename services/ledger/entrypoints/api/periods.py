"""Period close: list the closes, close the books through a moment."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.ledger.adapters.periods import PeriodCloseRefused, close_period, history
from services.ledger.entrypoints.api.deps import ClockDep, Finance, ReadConn, WriteConn, at_or_now
from services.ledger.entrypoints.api.schemas import PeriodClose, PeriodClosed, PeriodClosePublic
from shared.http.errors import ApiError

router = APIRouter(prefix="/v1/ledger/periods", tags=["ledger"])


@router.get("")
async def closes(who: Finance, conn: ReadConn) -> list[PeriodClosePublic]:
    return [PeriodClosePublic.model_validate(row) for row in await history(conn, who.tenant_id)]


@router.post("/close", status_code=status.HTTP_201_CREATED)
async def close(body: PeriodClose, who: Finance, conn: WriteConn, clock: ClockDep) -> PeriodClosed:
    """Close the books through ``through``: later postings dated before it are refused
    (staff) or moved to the open period keeping their original date (late events)."""
    through = at_or_now(body.through, clock)
    try:
        await close_period(conn, who.tenant_id, through, who.actor, body.reason, clock.now())
    except PeriodCloseRefused as exc:
        raise ApiError(409, "period_close_refused", str(exc)) from exc
    return PeriodClosed(closed_through=through, closed_by=who.actor)
