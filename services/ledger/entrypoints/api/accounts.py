"""Chart of accounts, balances as of any moment, statements and the trial balance."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from fastapi import APIRouter, Query

from services.ledger.adapters import queries
from services.ledger.adapters.statements import Position, statement_page
from services.ledger.domain.chart import CHART, account, natural_balance
from services.ledger.entrypoints.api.deps import ClockDep, Finance, ReadConn, RowId, at_or_now
from services.ledger.entrypoints.api.schemas import (
    AccountPublic,
    BalancePublic,
    StatementLinePublic,
    StatementPublic,
    TrialBalancePublic,
    TrialCurrencyPublic,
    TrialLinePublic,
)
from shared.http.errors import ApiError, not_found
from shared.http.openapi import link

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
FIRST = {"account_id": "$response.body#/0/id"}
ACCOUNT_LINKS = {
    "links": {
        "GetBalance": link("GET /v1/ledger/accounts/{account_id}/balance", **FIRST),
        "GetStatement": link("GET /v1/ledger/accounts/{account_id}/statement", **FIRST),
    }
}


def _public(row: queries.AccountRow) -> AccountPublic:
    spec = account(row.code)
    return AccountPublic(
        id=row.id, code=row.code, number=spec.number, name=spec.name, type=spec.type,
        currency=row.currency, subledger=row.subledger,
    )  # fmt: skip


@router.get("/chart")
async def chart(_: Finance) -> list[AccountPublic]:
    """The chart of accounts: every account code, its number, name and type."""
    return [
        AccountPublic(id=None, code=a.code, number=a.number, name=a.name, type=a.type,
                      currency=None, subledger=a.subledger)
        for a in CHART.values()
    ]  # fmt: skip


@router.get("/accounts", responses={200: ACCOUNT_LINKS})
async def accounts(
    who: Finance, conn: ReadConn, code: str | None = None, currency: str | None = None
) -> list[AccountPublic]:
    """The tenant's opened accounts (one per code, currency and sub-ledger)."""
    return [_public(r) for r in await queries.list_accounts(conn, who.tenant_id, code, currency)]


async def _account(conn: ReadConn, tenant_id: str, account_id: int) -> queries.AccountRow:
    row = await queries.get_account(conn, tenant_id, account_id)
    if row is None:
        raise not_found("account", account_id)
    return row


@router.get("/accounts/{account_id}/balance")
async def balance(
    account_id: RowId, who: Finance, conn: ReadConn, clock: ClockDep, as_of: datetime | None = None
) -> BalancePublic:
    """The balance of the postings dated at or before ``as_of`` (default: now)."""
    row = await _account(conn, who.tenant_id, account_id)
    when = at_or_now(as_of, clock)
    raw = await queries.balance(conn, account_id, when)
    return BalancePublic(
        account=_public(row), as_of=when, balance=natural_balance(row.code, raw),
        debit_minus_credit=raw,
    )  # fmt: skip


def _encode(pos: Position) -> str:
    return base64.urlsafe_b64encode(
        json.dumps([pos[0].isoformat(), pos[1], pos[2]]).encode()
    ).decode()


def _decode(cursor: str) -> Position:
    try:
        at, seq, line = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (datetime.fromisoformat(at), int(seq), int(line))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "invalid_cursor", "this cursor was not issued by this API") from exc


@router.get("/accounts/{account_id}/statement")
async def statement(
    account_id: RowId,
    who: Finance,
    conn: ReadConn,
    clock: ClockDep,
    start: datetime | None = Query(None, alias="from"),
    end: datetime | None = Query(None, alias="to"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = None,
) -> StatementPublic:
    """Postings in date order with the running (natural) balance; follow ``next_cursor``."""
    row = await _account(conn, who.tenant_id, account_id)
    first, last = at_or_now(start, clock) if start else BEGINNING, at_or_now(end, clock)
    page = await statement_page(
        conn, account_id, first, last, _decode(cursor) if cursor else None, limit
    )
    nat = lambda raw: natural_balance(row.code, raw)  # noqa: E731
    lines = [
        StatementLinePublic(
            transaction_id=ln.transaction_id, line=ln.line, posted_at=ln.posted_at, memo=ln.memo,
            kind=ln.kind, source_event_id=ln.source_event_id, external_ref=ln.external_ref,
            debit=max(ln.amount, 0), credit=max(-ln.amount, 0), balance=nat(ln.balance),
        )
        for ln in page.lines
    ]  # fmt: skip
    closing = page.lines[-1].balance if page.lines else page.opening
    return StatementPublic(
        account=_public(row), start=start, end=last, opening_balance=nat(page.opening),
        closing_balance=nat(closing), lines=lines,
        next_cursor=_encode(page.next_after) if page.next_after else None,
    )  # fmt: skip


@router.get("/trial-balance")
async def trial_balance(
    who: Finance, conn: ReadConn, clock: ClockDep, as_of: datetime | None = None
) -> TrialBalancePublic:
    """Debit and credit balances per account code, per currency, as of a moment."""
    when = at_or_now(as_of, clock)
    by_currency: dict[str, list[TrialLinePublic]] = {}
    for t in await queries.trial_balance(conn, who.tenant_id, when):
        spec = account(t.code)
        by_currency.setdefault(t.currency, []).append(
            TrialLinePublic(
                account=t.code, number=spec.number, name=spec.name, type=spec.type,
                accounts=t.accounts, debit=max(t.balance, 0), credit=max(-t.balance, 0),
            )
        )  # fmt: skip
    currencies = []
    for cur, lines in sorted(by_currency.items()):
        debit, credit = sum(x.debit for x in lines), sum(x.credit for x in lines)
        currencies.append(
            TrialCurrencyPublic(currency=cur, lines=lines, total_debit=debit,
                                total_credit=credit, difference=debit - credit)
        )  # fmt: skip
    return TrialBalancePublic(as_of=when, currencies=currencies)
