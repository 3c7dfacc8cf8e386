"""Journal transactions: read by id or source event; staff adjustments and reversals."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from services.ledger.adapters import queries
from services.ledger.adapters.posting import AlreadyReversed, ClosedPeriod, post_batch
from services.ledger.domain.chart import UnknownAccount
from services.ledger.domain.journal import JournalDraft, Line, UnbalancedTransaction
from services.ledger.domain.staff import InvalidAdjustment, adjustment, reversal
from services.ledger.entrypoints.api.deps import ClockDep, Finance, ReadConn, WriteConn, at_or_now
from services.ledger.entrypoints.api.schemas import (
    AdjustmentCreate,
    ReversalCreate,
    TransactionPublic,
)
from shared.http.errors import ApiError, not_found
from shared.http.openapi import link
from shared.money import MoneyError

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
async def by_id(transaction_id: UUID, who: Finance, conn: ReadConn) -> TransactionPublic:
    tx = await queries.transaction(conn, who.tenant_id, id=transaction_id)
    if tx is None:
        raise not_found("transaction", transaction_id)
    return TransactionPublic.of(tx)


@router.get(
    "/transactions",
    responses={404: {"description": "transaction_not_found: no transaction for that event"}},
)
async def by_source(source_event_id: UUID, who: Finance, conn: ReadConn) -> TransactionPublic:
    """The transaction a source event (or staff posting) produced."""
    tx = await queries.transaction(conn, who.tenant_id, source_event_id=source_event_id)
    if tx is None:
        raise not_found("transaction", f"for source event {source_event_id}")
    return TransactionPublic.of(tx)


async def _post(conn: WriteConn, draft: JournalDraft) -> TransactionPublic:
    try:
        await post_batch(conn, [draft])
    except ClosedPeriod as exc:
        raise ApiError(409, "period_closed", str(exc)) from exc
    except AlreadyReversed as exc:
        raise ApiError(409, "not_reversible", str(exc)) from exc
    tx = await queries.transaction(conn, draft.tenant_id, id=draft.id)
    assert tx is not None
    return TransactionPublic.of(tx)


@router.post(
    "/adjustments", status_code=status.HTTP_201_CREATED, responses={201: TRANSACTION_LINKS}
)
async def post_adjustment(
    body: AdjustmentCreate, who: Finance, conn: WriteConn, clock: ClockDep
) -> TransactionPublic:
    """A balanced staff posting, recorded with the API key as actor and the given reason."""
    try:
        lines = [
            Line(ln.account, ln.currency, ln.debit - ln.credit, ln.subledger, ln.external_ref)
            for ln in body.lines
        ]
        draft = adjustment(
            tenant_id=who.tenant_id, actor=who.actor, reason=body.reason, memo=body.memo,
            posted_at=at_or_now(body.posted_at, clock), lines=lines,
        )  # fmt: skip
    except (UnbalancedTransaction, UnknownAccount, InvalidAdjustment, MoneyError) as exc:
        raise ApiError(422, "invalid_adjustment", str(exc)) from exc
    return await _post(conn, draft)


@router.post(
    "/transactions/{transaction_id}/reverse",
    status_code=status.HTTP_201_CREATED,
    responses={201: TRANSACTION_LINKS},
)
async def reverse(
    transaction_id: UUID, body: ReversalCreate, who: Finance, conn: WriteConn, clock: ClockDep
) -> TransactionPublic:
    """Post the mirror image of a transaction, dated now. A transaction is reversed once."""
    tx = await queries.transaction(conn, who.tenant_id, id=transaction_id)
    if tx is None:
        raise not_found("transaction", transaction_id)
    if tx["kind"] == "reversal" or await queries.reversed_by(conn, transaction_id):
        raise ApiError(409, "not_reversible", "already reversed, or itself a reversal")
    lines = [
        Line(p["code"], p["currency"], p["amount"], p["subledger"], p["external_ref"])
        for p in tx["postings"]
    ]
    draft = reversal(
        tenant_id=who.tenant_id, original_id=transaction_id, original_lines=lines,
        actor=who.actor, reason=body.reason, posted_at=clock.now(),
    )  # fmt: skip
    return await _post(conn, draft)
