"""Journal export over HTTP, streamed: ``GET /v1/ledger/export?format=csv|json&from=&to=``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.ledger.entrypoints.http.deps import Container, Finance, in_utc
from services.ledger.service_layer import queries
from shared.http.errors import ApiError

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)  # the whole journal: no opening balances, any date
END = datetime(9999, 1, 1, tzinfo=UTC)
EXPORTED = {
    "description": "One row per posting, in the columns docs/ledger.md lists",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["columns", "rows"],
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "rows": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
    },
}


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: EXPORTED, 422: {"description": "invalid_window: `to` is not after `from`"}},
)
async def export_journal(
    who: Finance,
    c: Container,
    format: Literal["csv", "json"] = "csv",
    start: datetime | None = Query(None, alias="from"),
    end: datetime | None = Query(None, alias="to"),
) -> StreamingResponse:
    """Every posting of the tenant dated in [from, to), one row each (see docs/ledger.md)."""
    first = in_utc(start) if start else BEGINNING  # checked before the stream starts
    last = in_utc(end) if end else END
    if first >= last:
        raise ApiError(422, "invalid_window", f"from ({first}) must be before to ({last})")
    body = queries.export_journal(c.unit_of_work(), who.tenant_id, first, last, format)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    filename = f"journal-{who.tenant_id}.{format}"
    return StreamingResponse(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
