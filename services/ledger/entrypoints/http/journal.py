"""Journal transactions: read by id or source event; staff adjustments and reversals."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from services.ledger.entrypoints.http.deps import Container, Finance, at_or_now, caller
from services.ledger.entrypoints.http.errors import answered
from services.ledger.entrypoints.http.schemas import (
    AdjustmentCreate,
    AdjustmentRequestPublic,
    ReversalCreate,
    TransactionPublic,
)
from services.ledger.service_layer import commands, queries
from services.ledger.service_layer.records import TransactionRecord
from shared.http.idempotency import answer
from shared.http.openapi import link

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
TX = {"transaction_id": "$response.body#/id"}
ACCOUNT = {"account_id": "$response.body#/postings/0/account_id"}
TRANSACTION_LINKS = {
    "links": {
        "GetTransaction": link("GET /v1/ledger/transactions/{transaction_id}", **TX),
        "Reverse": link("POST /v1/ledger/transactions/{transaction_id}/reverse", **TX),
        "GetBalance": link("GET /v1/ledger/accounts/{account_id}/balance", **ACCOUNT),
        "GetStatement": link("GET /v1/ledger/accounts/{account_id}/statement", **ACCOUNT),
    }
}


@router.get("/transactions/{transaction_id}")
async def by_id(transaction_id: UUID, who: Finance, c: Container) -> TransactionPublic:
    with answered():
        tx = await queries.transaction(c.unit_of_work(), caller(who), transaction_id)
    return TransactionPublic.of(tx)


@router.get(
    "/transactions",
    responses={404: {"description": "transaction_not_found: no transaction for that event"}},
)
async def by_source(source_event_id: UUID, who: Finance, c: Container) -> TransactionPublic:
    """The transaction a source event (or staff posting) produced."""
    with answered():
        tx = await queries.transaction_of_source(c.unit_of_work(), caller(who), source_event_id)
    return TransactionPublic.of(tx)


def answer_transaction(tx: TransactionRecord) -> None:
    """Registered in the posting's commit (shared/http/idempotency.py): a retry replays it."""
    answer(TransactionPublic.of(tx))


@router.post(
    "/adjustments",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: TRANSACTION_LINKS,
        409: {"description": "approval_required: above the tenant's approval threshold (no"
              " rules for a currency: 0): ask for it at POST /v1/ledger/adjustment-requests"},
    },
)  # fmt: skip
async def post_adjustment(body: AdjustmentCreate, who: Finance, c: Container) -> TransactionPublic:
    """A balanced staff posting, recorded with the API key as actor and the given reason,
    at or below the tenant's approval threshold in each currency (maker-checker: above it,
    409 ``approval_required``, nothing posted)."""
    with answered():
        tx = await commands.post_adjustment(
            c.unit_of_work(), caller(who), body.reason, body.memo,
            at_or_now(body.posted_at, c.clock), [ln.staff_line() for ln in body.lines],
            answer_transaction,
        )  # fmt: skip
    return TransactionPublic.of(tx)


@router.post("/adjustment-requests", status_code=status.HTTP_201_CREATED)
async def request_adjustment(
    body: AdjustmentCreate, who: Finance, c: Container
) -> AdjustmentRequestPublic:
    """Ask for a staff adjustment (above the approval threshold): it waits,
    ``pending_approval``, for a finance user other than the caller to approve it. Refused
    at once (422) if it could never be posted."""
    with answered():
        found = await commands.request_adjustment(
            c.unit_of_work(), caller(who), body.reason, body.memo,
            None if body.posted_at is None else at_or_now(body.posted_at, c.clock),
            [ln.staff_line() for ln in body.lines], c.clock.now(),
            lambda r: answer(AdjustmentRequestPublic.of(r)),
        )  # fmt: skip
    return AdjustmentRequestPublic.of(found)


@router.post(
    "/adjustment-requests/{adjustment_id}/approve",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: TRANSACTION_LINKS,
        403: {"description": "same_user_approval: its maker cannot approve it"},
        404: {"description": "adjustment_not_found: no such request of this tenant"},
        409: {"description": "no_pending_adjustment: approved already"},
    },
)
async def approve_adjustment(adjustment_id: UUID, who: Finance, c: Container) -> TransactionPublic:
    """A second finance user approves the adjustment: it is posted (its maker as actor, the
    checker named in its reason), dated as asked or now."""
    with answered():
        tx = await commands.approve_adjustment(
            c.unit_of_work(), caller(who), adjustment_id, c.clock.now(), answer_transaction
        )
    return TransactionPublic.of(tx)


@router.post(
    "/transactions/{transaction_id}/reverse",
    status_code=status.HTTP_201_CREATED,
    responses={201: TRANSACTION_LINKS},
)
async def reverse(
    transaction_id: UUID, body: ReversalCreate, who: Finance, c: Container
) -> TransactionPublic:
    """Post the mirror image of a transaction, dated now. A transaction is reversed once."""
    with answered():
        tx = await commands.reverse(
            c.unit_of_work(), caller(who), transaction_id, body.reason, c.clock.now(),
            answer_transaction,
        )  # fmt: skip
    return TransactionPublic.of(tx)
