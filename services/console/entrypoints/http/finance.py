"""Finance: the trial balance as of a date, per currency; an account's statement with its
running balance, page by page; the statement as CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from services.console.adapters.api import ApiFailure
from services.console.domain import statement_csv
from services.console.entrypoints.http.deps import Container, SignedIn, redirect, render

router = APIRouter(prefix="/finance")
PAGE = 50
CSV_PAGE = 1_000
CSV_MAX_PAGES = 1_000  # a million postings: past that, the journal export is the tool


def end_of(day: str | None) -> datetime | None:
    """The last moment of ``day`` (YYYY-MM-DD) in UTC: the books "as of" that date include
    everything posted during it. None (or a malformed date): now."""
    if not day:
        return None
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return None
    return datetime.combine(d + timedelta(days=1), time(0), UTC) - timedelta(microseconds=1)


def not_found() -> ApiFailure:
    return ApiFailure("console", 404, "not_found", "no such account")


def with_balances(currencies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each currency's lines that carry a balance (an account opened but at zero on that
    date says nothing), and only the currencies left with one."""
    shown = []
    for cur in currencies:
        lines = [ln for ln in cur["lines"] if ln["debit"] or ln["credit"]]
        if lines or cur["difference"]:
            shown.append({**cur, "lines": lines})
    return shown


@router.get("/trial-balance", include_in_schema=False)
async def trial_balance(
    request: Request, session: SignedIn, c: Container, as_of: str | None = None
) -> Response:
    when = end_of(as_of)
    tb = await c.ledger(str(session.api_key)).trial_balance(when)
    tb["currencies"] = with_balances(tb["currencies"])
    return render(
        request, "finance/trial_balance.html", tb=tb, as_of_date=as_of if when else None,
        today=c.clock.now().date().isoformat(),
    )  # fmt: skip


@router.get("/accounts", include_in_schema=False)
async def accounts(
    request: Request,
    session: SignedIn,
    c: Container,
    code: str | None = None,
    currency: str | None = None,
    as_of: str | None = None,
) -> Response:
    """The accounts behind a trial balance line (one per sub-ledger): straight to the
    statement when there is one."""
    found = await c.ledger(str(session.api_key)).accounts(code, currency)
    suffix = f"?as_of={as_of}" if end_of(as_of) else ""
    if len(found) == 1 and found[0]["id"] is not None:
        return redirect(f"/finance/accounts/{found[0]['id']}/statement{suffix}")
    return render(
        request, "finance/accounts.html", accounts=found, code=code, currency=currency,
        suffix=suffix,
    )  # fmt: skip


@router.get("/accounts/{account_id}/statement", include_in_schema=False)
async def statement(
    request: Request,
    account_id: str,
    session: SignedIn,
    c: Container,
    as_of: str | None = None,
    cursor: str | None = None,
) -> Response:
    if not account_id.isdigit():
        raise not_found()
    when = end_of(as_of)
    page = await c.ledger(str(session.api_key)).statement(
        int(account_id), end=when, cursor=cursor, limit=PAGE
    )
    return render(
        request, "finance/statement.html", page=page, account=page.extra["account"],
        account_id=account_id, as_of_date=as_of if when else None, cursor=cursor,
    )  # fmt: skip


@router.get("/accounts/{account_id}/statement.csv", include_in_schema=False)
async def statement_download(
    account_id: str, session: SignedIn, c: Container, as_of: str | None = None
) -> Response:
    if not account_id.isdigit():
        raise not_found()
    ledger, when = c.ledger(str(session.api_key)), end_of(as_of)
    # The first page is read before the answer starts: a refusal (404, 403) is a page, not
    # a broken download.
    first = await ledger.statement(int(account_id), end=when, limit=CSV_PAGE)
    account = first.extra["account"]
    currency = str(account["currency"])

    async def lines() -> AsyncIterator[str]:
        yield statement_csv.header()
        page, pages = first, 1
        while True:
            for text in statement_csv.rows(page.items, currency):
                yield text
            if page.next_cursor is None or pages >= CSV_MAX_PAGES:
                return
            page = await ledger.statement(
                int(account_id), end=when, cursor=page.next_cursor, limit=CSV_PAGE
            )
            pages += 1

    name = f"statement-{account['number']}-{currency}-{account_id}"
    if when:
        name += f"-{when:%Y-%m-%d}"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
