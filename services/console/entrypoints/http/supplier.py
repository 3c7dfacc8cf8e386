"""Supplier: its running orders, each with the offer for it (amount, flat fee, APR,
expected repayment) and accept in one click; its advances with their statements.

Asking for an offer is a write (financing records the offer, with its expiry), so it is a
button, never a side effect of opening the page. Each form carries an Idempotency-Key made
when the page was drawn: a double click sends the same key twice, and the API replays its
first answer instead of acting twice.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.api import ApiFailure
from services.console.adapters.escrow import OrderFilter
from services.console.adapters.financing import FinancingClient
from services.console.domain.session import Session
from services.console.domain.supplier import (
    DeskRow,
    binding_label,
    desk,
    remaining_supplier_limit,
)
from services.console.entrypoints.http.deps import (
    Container,
    Form,
    SignedIn,
    idempotency_key_of,
    redirect,
    render,
)

router = APIRouter(prefix="/supplier")
HEADROOM_READS = 8  # concurrent headroom reads for one desk


async def desk_page(
    request: Request,
    session: Session,
    c: Container,
    status_code: int = 200,
    **context: Any,
) -> Response:
    key = str(session.api_key)
    orders = await c.escrow(key).orders(OrderFilter(), limit=100)
    financing = c.financing(key)
    advances = await financing.advances()
    rows = await with_headroom(financing, desk(orders.items, advances, c.clock.now()))
    rooms = [r.headroom for r in rows if r.headroom]
    return render(
        request, "supplier/desk.html", status_code, rows=rows, advances=advances,
        limits=remaining_supplier_limit(rooms), binding_label=binding_label,
        new_key=lambda: str(uuid.uuid4()), **context,
    )  # fmt: skip


async def with_headroom(financing: FinancingClient, rows: list[DeskRow]) -> list[DeskRow]:
    """Each funded order without a live advance, with financing's headroom on it (8 reads
    at a time); an order financing has not heard of yet keeps none."""
    gate = asyncio.Semaphore(HEADROOM_READS)

    async def one(row: DeskRow) -> DeskRow:
        if row.live is not None or row.order["status"] != "funded":
            return row
        async with gate:
            try:
                room = await financing.headroom(str(row.order["order_id"]))
            except ApiFailure as exc:
                if exc.status != 404:
                    raise
                return row
        return replace(row, headroom=room)

    return list(await asyncio.gather(*(one(r) for r in rows)))


@router.get("", include_in_schema=False)
async def supplier_desk(
    request: Request,
    session: SignedIn,
    c: Container,
    offered: str | None = None,
    accepted: str | None = None,
) -> Response:
    return await desk_page(request, session, c, offered=offered, accepted=accepted)


@router.post("/orders/{order_id}/offer", include_in_schema=False)
async def ask_offer(
    request: Request, order_id: str, session: SignedIn, form: Form, c: Container
) -> Response:
    try:
        offer = await c.financing(str(session.api_key)).quote(order_id, idempotency_key_of(form))
    except ApiFailure as exc:
        if exc.status not in (409, 422):
            raise
        reasons = [r.get("message", r.get("code")) for r in exc.details.get("reasons", [])]
        return await desk_page(request, session, c, exc.status, error=exc.message,
                               reasons=reasons, failed_order=order_id)  # fmt: skip
    return redirect(f"/supplier?offered={offer['advance_id']}")


@router.post("/advances/{advance_id}/accept", include_in_schema=False)
async def accept(
    request: Request, advance_id: str, session: SignedIn, form: Form, c: Container
) -> Response:
    try:
        await c.financing(str(session.api_key)).accept(advance_id, idempotency_key_of(form))
    except ApiFailure as exc:
        if exc.status not in (409, 422):
            raise
        reasons = [r.get("message", r.get("code")) for r in exc.details.get("reasons", [])]
        return await desk_page(request, session, c, exc.status, error=exc.message,
                               reasons=reasons)  # fmt: skip
    return redirect(f"/supplier?accepted={advance_id}")


async def advance_page(
    request: Request,
    advance_id: str,
    session: Session,
    c: Container,
    status_code: int = 200,
    **context: Any,
) -> Response:
    financing = c.financing(str(session.api_key))
    found = await financing.advance(advance_id)
    statement = await financing.statement(advance_id)
    return render(request, "supplier/advance.html", status_code, advance=found,
                  statement=statement, new_key=lambda: str(uuid.uuid4()), **context)  # fmt: skip


@router.get("/advances/{advance_id}", include_in_schema=False)
async def advance(
    request: Request, advance_id: str, session: SignedIn, c: Container, repaid: str | None = None
) -> Response:
    return await advance_page(request, advance_id, session, c, repaid=repaid)


@router.post("/advances/{advance_id}/repay-early", include_in_schema=False)
async def repay_early(
    request: Request, advance_id: str, session: SignedIn, form: Form, c: Container
) -> Response:
    """Settle the advance today at its payoff (financing's early repayment)."""
    reference = (form.get("payment_reference") or "").strip()[:200] or None
    try:
        await c.financing(str(session.api_key)).repay_early(
            advance_id, reference, idempotency_key_of(form)
        )
    except ApiFailure as exc:
        if exc.status not in (409, 422):
            raise
        return await advance_page(request, advance_id, session, c, exc.status,
                                  error=exc.message)  # fmt: skip
    return redirect(f"/supplier/advances/{advance_id}?repaid=1")
