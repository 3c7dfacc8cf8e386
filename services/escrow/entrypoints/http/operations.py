"""Operations lists for finance: refunds Stripe keeps refusing, refunds made outside
Tradeflow that escrow could not book (``service_layer/alerts.py`` says what each is).

The response models live here, not in ``schemas.py``: they belong to this router alone.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.escrow.entrypoints.http.deps import Container, Finance
from services.escrow.service_layer import operations
from services.escrow.service_layer.alerts import RefundBreak
from shared.http.errors import not_found
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/operations", tags=["operations"])
Limit = Annotated[int, Query(ge=1, le=100)]


class StuckRefundPublic(BaseModel):
    """A refund to the buyer, still reserved, that Stripe refused at every attempt so far."""

    refund_id: str
    order_id: str
    payment_id: str | None
    amount: int
    currency: str
    attempts: int
    last_error: str
    first_refused_at: datetime
    last_refused_at: datetime
    alerted_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    note: str | None = None


class StuckRefundsPublic(BaseModel):
    object: Literal["list"] = "list"
    data: list[StuckRefundPublic]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {
                            "refund_id": "0190b5a2-7c1e-7d1a-9a57-3f1f6b2c9e10",
                            "order_id": "0190b5a0-11aa-7b3c-8d4e-5f6a7b8c9d0e",
                            "payment_id": "0190b5a1-22bb-7c4d-9e5f-6a7b8c9d0e1f",
                            "amount": 25000,
                            "currency": "USD",
                            "attempts": 5,
                            "last_error": "Charge ch_3Ab has been charged back already.",
                            "first_refused_at": "2026-03-01T09:00:30Z",
                            "last_refused_at": "2026-03-01T09:01:02Z",
                            "alerted_at": "2026-03-01T09:01:02Z",
                        }
                    ],
                }
            ]
        }
    )


class RefundBreakPublic(BaseModel):
    """A refund Stripe reported (made outside Tradeflow) that escrow could not book."""

    stripe_refund_id: str
    order_id: str
    payment_id: str
    stripe_event_id: str
    amount: int
    currency: str
    bookable: int
    reason: Literal["invalid_amount", "insufficient_funds"]
    detected_at: datetime
    status: Literal["open", "resolved"] = "open"
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    note: str | None = None


class RefundBreaksPublic(BaseModel):
    object: Literal["list"] = "list"
    data: list[RefundBreakPublic]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {
                            "stripe_refund_id": "re_3Dashboard",
                            "order_id": "0190b5a0-11aa-7b3c-8d4e-5f6a7b8c9d0e",
                            "payment_id": "0190b5a1-22bb-7c4d-9e5f-6a7b8c9d0e1f",
                            "stripe_event_id": "evt_1Refunded",
                            "amount": 150000,
                            "currency": "USD",
                            "bookable": 70000,
                            "reason": "insufficient_funds",
                            "detected_at": "2026-03-02T14:12:00Z",
                        }
                    ],
                }
            ]
        }
    )


class ParkedDeadlinePublic(BaseModel):
    """A person's deadline whose action escrow kept refusing; its timer gave up."""

    order_id: str
    what: Literal["dispute", "milestone", "refund_proposal"]
    subject: str
    due_at: datetime
    attempts: int
    error_code: str
    last_error: str
    parked_at: datetime


class ParkedDeadlinesPublic(BaseModel):
    object: Literal["list"] = "list"
    data: list[ParkedDeadlinePublic]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {
                            "order_id": "0190b5a0-11aa-7b3c-8d4e-5f6a7b8c9d0e",
                            "what": "milestone",
                            "subject": "0190b5a0-11aa-7b3c-8d4e-5f6a7b8c9d0f",
                            "due_at": "2026-03-15T09:00:00Z",
                            "attempts": 8,
                            "error_code": "insufficient_funds",
                            "last_error": "only 60001 of 70001 is free to refund",
                            "parked_at": "2026-03-15T10:05:00Z",
                        }
                    ],
                }
            ]
        }
    )


@router.get("/parked-deadlines")
async def parked_deadlines(who: Finance, c: Container, limit: Limit = 50) -> ParkedDeadlinesPublic:
    """Deadlines whose action escrow refused ``escrow_deadline_max_attempts`` times: the
    timer gave up (``escrow.deadline_parked``); most recently parked first."""
    found = await operations.parked_deadlines(c.unit_of_work(), who.tenant_id, limit)
    return ParkedDeadlinesPublic(
        data=[ParkedDeadlinePublic.model_validate(asdict(d)) for d in found]
    )


@router.get("/stuck-refunds")
async def stuck_refunds(who: Finance, c: Container, limit: Limit = 50) -> StuckRefundsPublic:
    """Refunds Stripe refused ``escrow_refund_stuck_after_attempts`` times or more and that
    are still pending (the settlement timer goes on retrying them), oldest alert first."""
    found = await operations.stuck_refunds(c.unit_of_work(), who.tenant_id, limit)
    return StuckRefundsPublic(data=[StuckRefundPublic.model_validate(asdict(s)) for s in found])


def _break(b: RefundBreak) -> RefundBreakPublic:
    status = "open" if b.resolved_at is None else "resolved"
    return RefundBreakPublic.model_validate({**asdict(b), "status": status})


@router.get("/refund-breaks")
async def refund_breaks(
    who: Finance,
    c: Container,
    limit: Limit = 50,
    status: Literal["open", "resolved"] | None = None,
) -> RefundBreaksPublic:
    """Refunds made outside Tradeflow that escrow could not book, newest first
    (``status``: only the open or the resolved ones)."""
    found = await operations.refund_breaks(c.unit_of_work(), who.tenant_id, limit, status)
    return RefundBreaksPublic(data=[_break(b) for b in found])


Note = Annotated[str, Field(min_length=1, max_length=2_000)]


class StuckRefundAbandon(BaseModel):
    """Finance gives the refund up at Stripe: ``returned_offline``, the money went back to
    the buyer another way (booked without Stripe, posted against the bank)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"resolution": "returned_offline", "note": "wired back on 3 March"}]
        },
    )

    resolution: Literal["returned_offline"]
    note: Note


class RefundBreakResolve(BaseModel):
    """How finance worked the break: ``booked_in_ledger`` (the ledger's reconciliation break
    for the same Stripe refund was booked there), ``recovered`` or ``written_off``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"resolution": "booked_in_ledger", "note": "journal J-2291"}]
        },
    )

    resolution: Literal["booked_in_ledger", "recovered", "written_off"]
    note: Note


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such open record of this tenant"}
}


@router.post("/stuck-refunds/{refund_id}/abandon", responses=NOT_FOUND)
async def abandon_stuck_refund(
    refund_id: str, body: StuckRefundAbandon, who: Finance, c: Container
) -> StuckRefundPublic:
    """Give up a refund listed as stuck: booked as returned offline (``escrow.refunded``
    without a Stripe refund, ``escrow.refund_abandoned``), with who, when and why kept on
    the record. Once; ``404 stuck_refund_not_found`` for any other refund."""
    try:
        done = await operations.abandon_stuck_refund(
            c.unit_of_work, c.clock, who.tenant_id, who.actor, refund_id, body.resolution,
            body.note, lambda s: answer(StuckRefundPublic.model_validate(asdict(s))),
        )  # fmt: skip
    except operations.StuckRefundNotFound as exc:
        raise not_found("stuck_refund", refund_id) from exc
    return StuckRefundPublic.model_validate(asdict(done))


@router.post("/refund-breaks/{stripe_refund_id}/resolve", responses=NOT_FOUND)
async def resolve_refund_break(
    stripe_refund_id: str, body: RefundBreakResolve, who: Finance, c: Container
) -> RefundBreakPublic:
    """Record how finance worked a refund break (``escrow.refund_break_resolved``); it
    leaves ``?status=open``. Once; ``404 refund_break_not_found`` otherwise."""
    try:
        done = await operations.resolve_refund_break(
            c.unit_of_work, c.clock, who.tenant_id, who.actor, stripe_refund_id,
            body.resolution, body.note, lambda b: answer(_break(b)),
        )  # fmt: skip
    except operations.RefundBreakNotFound as exc:
        raise not_found("refund_break", stripe_refund_id) from exc
    return _break(done)
