"""Finance: one break's page on the ledger's break workflow. Its comments (add one), its
assignment to a finance user (the ledger checks that the name is one), its resolution with
a reason and optionally an adjusting transaction, and the approval of a pending adjustment
by a second finance user (maker-checker: the ledger refuses its maker, 403
``same_user_approval``, and the page says so)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.api import ApiFailure
from services.console.domain.breaks import AdjustmentInvalid, adjustment_of
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
# Refusals the break's page shows in place (nothing was changed); others are error pages.
SHOWN = {403: ("same_user_approval",), 409: (), 422: ()}
DONE = {
    "commented": "Comment added.",
    "assigned": "Break assigned.",
    "resolved": "Break resolved.",
    "pending": "Resolution proposed: it waits for a second finance user's approval.",
    "approved": "Adjustment approved and posted; the break is resolved.",
}


def me(session: Session) -> str:
    """The signed-in person as the ledger names finance users: ``apikey:<key name>``."""
    return f"apikey:{session.key_name}"


async def break_page(
    request: Request,
    session: Session,
    c: Container,
    break_id: int,
    status_code: int = 200,
    **context: Any,
) -> Response:
    flow = await c.ledger(str(session.api_key)).break_workflow(break_id)
    people = {me(session)} | {x["author"] for x in flow["comments"]}
    if flow["assignment"]:
        people.add(flow["assignment"]["assignee"])
    return render(
        request, "finance/break.html", status_code, flow=flow, brk=flow["break"],
        me=me(session), people=sorted(people), new_key=lambda: str(uuid.uuid4()),
        **context,
    )  # fmt: skip


@router.get("/{break_id}", include_in_schema=False)
async def show(
    request: Request, break_id: int, session: SignedIn, c: Container, done: str = ""
) -> Response:
    return await break_page(request, session, c, break_id, done=DONE.get(done))


async def act(
    request: Request, session: Session, c: Container, break_id: int, what: str, call: Any,
    form: dict[str, str],
) -> Response:  # fmt: skip
    try:
        await call
    except ApiFailure as exc:
        if exc.status not in SHOWN or (SHOWN[exc.status] and exc.code not in SHOWN[exc.status]):
            raise
        return await break_page(request, session, c, break_id, exc.status, form=form,
                                error=exc.message, error_code=exc.code)  # fmt: skip
    return redirect(f"/finance/breaks/{break_id}?done={what}")


@router.post("/{break_id}/comments", include_in_schema=False)
async def comment(
    request: Request, break_id: int, session: SignedIn, form: Form, c: Container
) -> Response:
    body = form.get("body", "").strip()
    call = c.ledger(str(session.api_key)).comment_on_break(break_id, body, idempotency_key_of(form))
    return await act(request, session, c, break_id, "commented", call, form)


@router.post("/{break_id}/assignee", include_in_schema=False)
async def assignee(
    request: Request, break_id: int, session: SignedIn, form: Form, c: Container
) -> Response:
    who = form.get("assignee", "").strip()
    call = c.ledger(str(session.api_key)).assign_break_to(break_id, who, idempotency_key_of(form))
    return await act(request, session, c, break_id, "assigned", call, form)


@router.post("/{break_id}/resolutions", include_in_schema=False)
async def resolution(
    request: Request, break_id: int, session: SignedIn, form: Form, c: Container
) -> Response:
    ledger = c.ledger(str(session.api_key))
    flow = await ledger.break_workflow(break_id)
    try:
        adjustment = adjustment_of(form, str(flow["break"]["currency"]))
    except AdjustmentInvalid as exc:
        return await break_page(request, session, c, break_id, 422, form=form,
                                error=str(exc), error_code="invalid_adjustment")  # fmt: skip
    reason = form.get("reason", "").strip()
    try:
        found = await ledger.propose_resolution(
            break_id, reason, adjustment, idempotency_key_of(form)
        )
    except ApiFailure as exc:
        if exc.status not in (409, 422):
            raise
        return await break_page(request, session, c, break_id, exc.status, form=form,
                                error=exc.message, error_code=exc.code)  # fmt: skip
    pending = found["resolution"]["status"] == "pending_approval"
    return redirect(f"/finance/breaks/{break_id}?done={'pending' if pending else 'resolved'}")


@router.post("/{break_id}/approve", include_in_schema=False)
async def approve(
    request: Request, break_id: int, session: SignedIn, form: Form, c: Container
) -> Response:
    call = c.ledger(str(session.api_key)).approve_resolution(break_id, idempotency_key_of(form))
    return await act(request, session, c, break_id, "approved", call, form)
