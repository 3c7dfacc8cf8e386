"""Chart of accounts, balances as of any moment, statements and the trial balance."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from services.ledger.adapters.queries import AccountRow
from services.ledger.domain.chart import CHART, account, natural_balance
from services.ledger.entrypoints.http.deps import Container, Finance, RowId, at_or_now, caller
from services.ledger.entrypoints.http.errors import answered
from services.ledger.entrypoints.http.schemas import (
    AccountPublic,
    BalancePublic,
    StatementLinePublic,
    StatementPublic,
    TrialBalancePublic,
    TrialCurrencyPublic,
    TrialLinePublic,
)
from services.ledger.service_layer import queries
from shared.http.openapi import link

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
FIRST = {"account_id": "$response.body#/0/id"}
ACCOUNT_LINKS = {
    "links": {
        "GetBalance": link("GET /v1/ledger/accounts/{account_id}/balance", **FIRST),
        "GetStatement": link("GET /v1/ledger/accounts/{account_id}/statement", **FIRST),
    }
}


def _public(row: AccountRow) -> AccountPublic:
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
    who: Finance, c: Container, code: str | None = None, currency: str | None = None
) -> list[AccountPublic]:
    """The tenant's opened accounts (one per code, currency and sub-ledger)."""
    found = await queries.accounts(c.unit_of_work(), caller(who), code, currency)
    return [_public(r) for r in found]


@router.get("/accounts/{account_id}/balance")
async def balance(
    account_id: RowId, who: Finance, c: Container, as_of: datetime | None = None
) -> BalancePublic:
    """The balance of the postings dated at or before ``as_of`` (default: now)."""
    with answered():
        b = await queries.balance(
            c.unit_of_work(), caller(who), account_id, at_or_now(as_of, c.clock)
        )
    return BalancePublic(
        account=_public(b.account), as_of=b.as_of, balance=natural_balance(b.account.code, b.raw),
        debit_minus_credit=b.raw,
    )  # fmt: skip


@router.get("/accounts/{account_id}/statement")
async def statement(
    account_id: RowId,
    who: Finance,
    c: Container,
    start: datetime | None = Query(None, alias="from"),
    end: datetime | None = Query(None, alias="to"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = None,
) -> StatementPublic:
    """Postings in date order with the running (natural) balance; follow ``next_cursor``."""
    first, last = at_or_now(start, c.clock) if start else None, at_or_now(end, c.clock)
    with answered():
        found = await queries.statement(
            c.unit_of_work(), caller(who), account_id, first, last, cursor, limit
        )
    code, page = found.account.code, found.page
    nat = lambda raw: natural_balance(code, raw)  # noqa: E731
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
        account=_public(found.account), start=start, end=last, opening_balance=nat(page.opening),
        closing_balance=nat(closing), lines=lines, next_cursor=found.next_cursor,
    )  # fmt: skip


@router.get("/trial-balance")
async def trial_balance(
    who: Finance, c: Container, as_of: datetime | None = None
) -> TrialBalancePublic:
    """Debit and credit balances per account code, per currency, as of a moment."""
    when = at_or_now(as_of, c.clock)
    by_currency: dict[str, list[TrialLinePublic]] = {}
    for t in await queries.trial_balance(c.unit_of_work(), caller(who), when):
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
