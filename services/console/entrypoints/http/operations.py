"""Operations: the orders with the filters escrow's list supports, and an order's page:
its milestone schedule as a progress view, payouts, disputes, and its timeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.api import Page
from services.console.adapters.escrow import STATUSES, OrderFilter
from services.console.adapters.ledger import LedgerClient
from services.console.entrypoints.http.deps import Container, SignedIn, render
from shared.money import EXPONENTS

router = APIRouter()
LEDGER_LOOKUPS = 8  # concurrent ledger reads for one order's timeline


def day_start(value: str | None, *, next_day: bool = False) -> datetime | None:
    try:
        d = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if d is None:
        return None
    return datetime.combine(d + timedelta(days=1 if next_day else 0), time(0), UTC)


def template_of(request: Request) -> str:
    """The rows alone for htmx's in-place refresh of the list, else the whole page."""
    return (
        "orders/rows.html"
        if request.headers.get("hx-target") == "order-rows"
        else "orders/list.html"
    )


@router.get("/orders", include_in_schema=False)
async def orders(
    request: Request,
    session: SignedIn,
    c: Container,
    status: str | None = None,
    buyer_id: str | None = None,
    supplier_id: str | None = None,
    created_from: str | None = None,
    created_to: str | None = None,
    currency: str | None = None,
    external_reference: str | None = None,
    cursor: str | None = None,
) -> Response:
    code = (currency or "").strip().upper()
    known = code in EXPONENTS
    flt = OrderFilter(
        currency=code if known else None,
        external_reference=(external_reference or "").strip()[:200] or None,
        status=status if status in STATUSES else None,
        buyer_id=(buyer_id or "").strip() or None,
        supplier_id=(supplier_id or "").strip() or None,
        created_from=day_start(created_from),
        # "to" a date includes that whole date.
        created_to=day_start(created_to, next_day=True),
    )
    filters = {
        "status": flt.status or "", "buyer_id": flt.buyer_id or "",
        "supplier_id": flt.supplier_id or "", "created_from": created_from or "",
        "created_to": created_to or "", "currency": code,
        "external_reference": flt.external_reference or "",
    }  # fmt: skip
    if code and not known:  # asked of escrow it is a 422: say so on the list itself
        return render(request, template_of(request), 422, page=Page(items=[]), filters=filters,
                      statuses=STATUSES, cursor=None,
                      error=f"{code} is not an ISO 4217 currency the platform knows (USD, EUR, JPY, …).")  # fmt: skip
    page = await c.escrow(str(session.api_key)).orders(flt, cursor)
    return render(
        request, template_of(request), page=page, filters=filters,
        statuses=STATUSES, cursor=cursor,
    )  # fmt: skip


def progress(order: dict[str, Any]) -> dict[str, Any]:
    """The schedule's progress: each milestone's share of the total and how far it got."""
    total = order["total"] or 1
    steps = []
    for m in order["milestones"]:
        steps.append({**m, "share": round(100 * m["amount"] / total, 1)})
    released = sum(1 for m in order["milestones"] if m["status"] == "released")
    return {"steps": steps, "released": released, "count": len(order["milestones"])}


@router.get("/orders/{order_id}", include_in_schema=False)
async def order(request: Request, order_id: str, session: SignedIn, c: Container) -> Response:
    escrow = c.escrow(str(session.api_key))
    found = await escrow.order(order_id)
    timeline = await escrow.timeline(order_id)
    names = {m["milestone_id"]: m["name"] for m in found["milestones"]}
    # The ledger's journal is finance's to read: other keys get the timeline alone.
    postings = (
        await postings_of(c.ledger(str(session.api_key)), timeline)
        if "finance" in session.scopes
        else None
    )
    return render(
        request, "orders/detail.html", order=found, timeline=timeline,
        progress=progress(found), names=names, postings=postings,
    )  # fmt: skip


async def postings_of(
    ledger: LedgerClient, timeline: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """What the ledger posted for each event of the order's timeline, by event id."""
    gate = asyncio.Semaphore(LEDGER_LOOKUPS)

    async def one(event_id: str) -> dict[str, Any] | None:
        async with gate:
            return await ledger.transaction_of_source(event_id)

    ids = [e["event_id"] for e in timeline]
    found = await asyncio.gather(*(one(i) for i in ids))
    return {i: tx for i, tx in zip(ids, found, strict=True) if tx is not None}
