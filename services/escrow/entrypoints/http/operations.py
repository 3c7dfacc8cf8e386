"""Operations lists for finance: refunds Stripe keeps refusing, refunds made outside
Tradeflow that escrow could not book (``service_layer/alerts.py`` says what each is).

The response models live here, not in ``schemas.py``: they belong to this router alone.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from services.escrow.entrypoints.http.deps import Container, Finance
from services.escrow.service_layer import operations

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


@router.get("/refund-breaks")
async def refund_breaks(who: Finance, c: Container, limit: Limit = 50) -> RefundBreaksPublic:
    """Refunds made outside Tradeflow that escrow could not book, newest first."""
    found = await operations.refund_breaks(c.unit_of_work(), who.tenant_id, limit)
    return RefundBreaksPublic(data=[RefundBreakPublic.model_validate(asdict(b)) for b in found])
