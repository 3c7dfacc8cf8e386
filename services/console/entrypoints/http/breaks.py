"""Finance: the reconciliation break queue (filter by status, kind, owner, age; assign;
resolve with a reason) and a run against Stripe.

Status and kind are the ledger's own filters; owner and age are applied here to the page
the ledger answers (the oldest 500 breaks), since its list does not take them yet.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.api import ApiFailure
from services.console.domain import breaks as queue
from services.console.domain.session import Session
from services.console.entrypoints.http.deps import (
    Container,
    Form,
    SignedIn,
    idempotency_key_of,
    redirect,
    render,
)

router = APIRouter(prefix="/finance/breaks")
STATUSES = ("open", "resolved", "cleared")
KINDS = ("missing_in_ledger", "missing_in_stripe", "amount_mismatch", "escrow_held_mismatch")


async def queue_page(
    request: Request,
    session: Session,
    c: Container,
    filters: dict[str, str],
    status_code: int = 200,
    **context: Any,
) -> Response:
    status = filters.get("status") if filters.get("status") in STATUSES else "open"
    kind = filters.get("kind") if filters.get("kind") in KINDS else None
    age = filters.get("min_age", "")
    page = await c.ledger(str(session.api_key)).breaks(status, kind)
    shown = queue.matching(page.items, filters.get("owner") or None,
                           int(age) if age.isdigit() else None)  # fmt: skip
    return render(
        request, "finance/breaks.html", status_code, breaks=shown, ages=queue.by_age(shown),
        owners=queue.owners(page.items), statuses=STATUSES, kinds=KINDS,
        filters={"status": status, "kind": kind or "", "owner": filters.get("owner", ""),
                 "min_age": age if age.isdigit() else ""},
        new_key=lambda: str(uuid.uuid4()), **context,
    )  # fmt: skip


@router.get("", include_in_schema=False)
async def break_queue(
    request: Request,
    session: SignedIn,
    c: Container,
    status: str = "open",
    kind: str = "",
    owner: str = "",
    min_age: str = "",
    done: str | None = None,
) -> Response:
    filters = {"status": status, "kind": kind, "owner": owner, "min_age": min_age}
    return await queue_page(request, session, c, filters, done=done)


async def act(
    request: Request, session: Session, c: Container, form: dict[str, str], what: str, call: Any
) -> Response:
    try:
        await call
    except ApiFailure as exc:
        if exc.status not in (409, 422):
            raise
        return await queue_page(request, session, c, form, exc.status, error=exc.message)
    back = {k: form.get(k, "") for k in ("status", "kind", "owner", "min_age")}
    query = "&".join(f"{k}={v}" for k, v in back.items() if v)
    return redirect(f"/finance/breaks?done={what}" + (f"&{query}" if query else ""))


@router.post("/{break_id}/assign", include_in_schema=False)
async def assign(
    request: Request, break_id: int, session: SignedIn, form: Form, c: Container
) -> Response:
    owner = form.get("new_owner", "").strip()
    ledger = c.ledger(str(session.api_key))
    return await act(request, session, c, form, "assigned",
                     ledger.assign_break(break_id, owner, idempotency_key_of(form)))  # fmt: skip


@router.post("/{break_id}/resolve", include_in_schema=False)
async def resolve(
    request: Request, break_id: int, session: SignedIn, form: Form, c: Container
) -> Response:
    reason = form.get("resolution", "").strip()
    ledger = c.ledger(str(session.api_key))
    return await act(request, session, c, form, "resolved",
                     ledger.resolve_break(break_id, reason, idempotency_key_of(form)))  # fmt: skip


@router.post("/runs", include_in_schema=False)
async def run(request: Request, session: SignedIn, form: Form, c: Container) -> Response:
    ledger = c.ledger(str(session.api_key))
    try:
        result = await ledger.reconcile_with_stripe(idempotency_key_of(form))
    except ApiFailure as exc:
        if exc.status not in (409, 422, 502):
            raise
        return await queue_page(request, session, c, {}, exc.status, error=exc.message)
    return await queue_page(request, session, c, {}, run=result)
