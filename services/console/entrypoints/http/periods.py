"""Finance: period close. The list of closes, and closing the books through the end of a
date (postings dated before it are refused from then on), confirmed on a second page."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.api import ApiFailure
from services.console.domain.session import Session
from services.console.entrypoints.http.deps import (
    Container,
    Form,
    SignedIn,
    idempotency_key_of,
    redirect,
    render,
)
from services.console.entrypoints.http.finance import end_of

router = APIRouter(prefix="/finance/periods")


async def periods_page(
    request: Request, session: Session, c: Container, status_code: int = 200, **context: object
) -> Response:
    closes = await c.ledger(str(session.api_key)).period_closes()
    closes.sort(key=lambda p: str(p["closed_at"]), reverse=True)
    return render(
        request, "finance/periods.html", status_code, closes=closes,
        today=c.clock.now().date().isoformat(), new_key=lambda: str(uuid.uuid4()), **context,
    )  # fmt: skip


@router.get("", include_in_schema=False)
async def periods(
    request: Request, session: SignedIn, c: Container, closed: str | None = None
) -> Response:
    return await periods_page(request, session, c, closed=closed)


@router.post("/close", include_in_schema=False)
async def close(request: Request, session: SignedIn, form: Form, c: Container) -> Response:
    through = end_of(form.get("through"))
    if through is None:
        return await periods_page(request, session, c, 422, error="Choose the last day to close.")
    reason = form.get("reason", "").strip() or None
    if form.get("confirm") != "yes":
        # A close cannot be undone: say what it does and ask once more.
        return render(
            request, "finance/period_confirm.html", through=through, day=form.get("through"),
            reason=reason or "", new_key=str(uuid.uuid4()),
        )  # fmt: skip
    try:
        await c.ledger(str(session.api_key)).close_period(through, reason, idempotency_key_of(form))
    except ApiFailure as exc:
        if exc.status not in (409, 422):
            raise
        return await periods_page(request, session, c, exc.status, error=exc.message)
    return redirect(f"/finance/periods?closed={form.get('through')}")
