"""Finance: the reconciliation break queue (filter by status, kind, owner, age; assign;
resolve with a reason; bulk-resolve the ticked breaks, all or none), the adjustments that
wait for approval, and a run against Stripe. One break's own page is ``break_workflow.py``.

Every filter is the ledger's own (status, kind, owner, age in days): the queue shows the
oldest 500 breaks that match, and counts those by age.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.api import ApiFailure, Page
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
KINDS = ("missing_in_ledger", "missing_in_stripe", "amount_mismatch", "escrow_held_mismatch",
         "date_mismatch", "ledger_disagrees", "escrow_disagrees", "stripe_disagrees",
         "three_way_disagree")  # fmt: skip
LISTED_AT_MOST = 500
FILTERS = ("status", "kind", "owner", "min_age", "max_age")  # carried back after an action
# The ledger's list does not say which breaks have a resolution waiting for approval: the
# queue reads the workflow of its first open breaks for that, 8 at a time.
PENDING_CHECKED = 100


async def pending_of(ledger: Any, breaks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The pending resolutions (``{break_id: resolution}``) of the first open breaks."""
    gate = asyncio.Semaphore(8)

    async def one(b: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        async with gate:
            flow = await ledger.break_workflow(int(b["id"]))
        found = flow.get("resolution")
        return int(b["id"]), found if found and found["status"] == "pending_approval" else None

    opened = [b for b in breaks if b["status"] == "open"][:PENDING_CHECKED]
    found = await asyncio.gather(*(one(b) for b in opened))
    return {i: r for i, r in found if r is not None}


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
    low, high = queue.age_of(filters.get("min_age")), queue.age_of(filters.get("max_age"))
    owner = (filters.get("owner") or "").strip()[:200] or None
    ledger = c.ledger(str(session.api_key))
    try:
        page = await ledger.breaks(status, kind, LISTED_AT_MOST, owner=owner,
                                   min_age_days=low, max_age_days=high)  # fmt: skip
    except ApiFailure as exc:
        if exc.code != "invalid_age_range":
            raise
        status_code, page = 422, Page(items=[])
        context.setdefault("error", f"The ledger refused the age filter: {exc.message}.")
    shown = page.items
    return render(
        request, "finance/breaks.html", status_code, breaks=shown, ages=queue.by_age(shown),
        owners=queue.owners(shown), statuses=STATUSES, kinds=KINDS,
        pending=await pending_of(ledger, shown), listed=len(shown),
        listed_at_most=LISTED_AT_MOST, pending_checked=PENDING_CHECKED,
        filters={"status": status, "kind": kind or "", "owner": owner or "",
                 "min_age": "" if low is None else str(low),
                 "max_age": "" if high is None else str(high)},
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
    max_age: str = "",
    done: str | None = None,
    count: int = 0,
) -> Response:
    filters = {"status": status, "kind": kind, "owner": owner, "min_age": min_age,
               "max_age": max_age}  # fmt: skip
    return await queue_page(request, session, c, filters, done=done, count=count)


async def act(
    request: Request, session: Session, c: Container, form: dict[str, str], what: str, call: Any
) -> Response:
    try:
        await call
    except ApiFailure as exc:
        if exc.status not in (409, 422):
            raise
        return await queue_page(request, session, c, form, exc.status, error=exc.message)
    back = {k: form.get(k, "") for k in FILTERS}
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


@router.post("/bulk-resolve", include_in_schema=False)
async def bulk_resolve(request: Request, session: SignedIn, form: Form, c: Container) -> Response:
    """The ticked breaks resolved with one reason, all or none: a refusal lists each
    break's reason and resolves nothing."""
    chosen, reason = queue.ticked(form), form.get("reason", "").strip()
    if not chosen:
        return await queue_page(request, session, c, form, 422,
                                error="Tick at least one break to resolve.")  # fmt: skip
    ledger = c.ledger(str(session.api_key))
    try:
        await ledger.bulk_resolve(chosen, reason, idempotency_key_of(form))
    except ApiFailure as exc:
        if exc.status not in (409, 422):
            raise
        return await queue_page(request, session, c, form, exc.status, error=exc.message,
                                refused=queue.refusals(exc.details), ticked=chosen)  # fmt: skip
    back = {k: form.get(k, "") for k in FILTERS}
    query = "&".join(f"{k}={v}" for k, v in back.items() if v)
    done = f"/finance/breaks?done=bulk&count={len(chosen)}"
    return redirect(done + (f"&{query}" if query else ""))


@router.post("/runs", include_in_schema=False)
async def run(request: Request, session: SignedIn, form: Form, c: Container) -> Response:
    """Start a run against Stripe (``adapters/runs.py``) and follow it on its own page."""
    ledger = c.ledger(str(session.api_key))
    key = idempotency_key_of(form)
    job = c.runs.start(str(session.tenant_id), str(session.key_name),
                       lambda: ledger.reconcile_with_stripe(key))  # fmt: skip
    return redirect(f"/finance/breaks/runs/{job.job_id}")


@router.get("/runs/{job_id}", include_in_schema=False)
async def run_page(request: Request, job_id: str, session: SignedIn, c: Container) -> Response:
    return render(request, "finance/run.html", **run_context(job_id, session, c))


@router.get("/runs/{job_id}/status", include_in_schema=False)
async def run_status(request: Request, job_id: str, session: SignedIn, c: Container) -> Response:
    """The status fragment htmx polls while the run runs (it stops once the run ended)."""
    return render(request, "finance/run_status.html", **run_context(job_id, session, c))


def run_context(job_id: str, session: Session, c: Container) -> dict[str, Any]:
    job = c.runs.get(job_id, session.tenant_id)
    if job is None:
        raise ApiFailure("console", 404, "run_not_found", "no such run")
    return {"job": job, "seconds": job.seconds(c.clock.now())}
