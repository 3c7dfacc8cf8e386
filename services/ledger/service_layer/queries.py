"""What finance reads: transactions, accounts, balances as of any moment, statements, the
trial balance, closes, breaks, the journal's export, and the checks of its integrity.

Each reads in a unit of work of its own and commits nothing. Amounts are raw (debit
positive); presenting natural balances is the chart's (``domain/chart.py``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID

from services.ledger.adapters.queries import AccountRow, TrialLine
from services.ledger.adapters.statements import Position, StatementPage
from services.ledger.domain import fx, reports
from services.ledger.domain.chain import ChainReport, Check, Published
from services.ledger.domain.reports import AccountSums, BalanceSheet, IncomeStatement, Period
from services.ledger.service_layer.commands import Caller
from services.ledger.service_layer.errors import InvalidCursor, NotFound
from services.ledger.service_layer.records import BreakRecord, PeriodCloseRecord, TransactionRecord
from services.ledger.service_layer.unit_of_work import AbstractLedgerUnitOfWork
from shared.pagination import Page, Window

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
R = TypeVar("R", IncomeStatement, BalanceSheet)


async def transaction(
    uow: AbstractLedgerUnitOfWork, caller: Caller, transaction_id: UUID
) -> TransactionRecord:
    async with uow:
        tx = await uow.journal.transaction(caller.tenant_id, id=transaction_id)
    if tx is None:
        raise NotFound("transaction", transaction_id)
    return tx


async def transaction_of_source(
    uow: AbstractLedgerUnitOfWork, caller: Caller, source_event_id: UUID
) -> TransactionRecord:
    """The transaction a source event (or staff posting) produced."""
    async with uow:
        tx = await uow.journal.transaction(caller.tenant_id, source_event_id=source_event_id)
    if tx is None:
        raise NotFound("transaction", f"for source event {source_event_id}")
    return tx


async def accounts(
    uow: AbstractLedgerUnitOfWork, caller: Caller, code: str | None, currency: str | None
) -> list[AccountRow]:
    """The tenant's opened accounts (one per code, currency and sub-ledger)."""
    async with uow:
        return await uow.accounts.opened(caller.tenant_id, code, currency)


@dataclass(frozen=True)
class Balance:
    account: AccountRow
    as_of: datetime
    raw: int  # debit minus credit


async def balance(
    uow: AbstractLedgerUnitOfWork, caller: Caller, account_id: int, as_of: datetime
) -> Balance:
    """The balance of the account's postings dated at or before ``as_of``."""
    async with uow:
        account = await _account(uow, caller, account_id)
        return Balance(account, as_of, await uow.accounts.balance(account_id, as_of))


@dataclass(frozen=True)
class Statement:
    account: AccountRow
    page: StatementPage
    next_cursor: str | None


async def statement(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    account_id: int,
    start: datetime | None,
    end: datetime,
    cursor: str | None,
    limit: int,
) -> Statement:
    """Postings in date order with the running balance; the next page's cursor."""
    async with uow:
        account = await _account(uow, caller, account_id)
        after = _decode(cursor) if cursor else None
        page = await uow.accounts.statement(account_id, start or BEGINNING, end, after, limit)
    return Statement(account, page, _encode(page.next_after) if page.next_after else None)


async def trial_balance(
    uow: AbstractLedgerUnitOfWork, caller: Caller, as_of: datetime
) -> list[TrialLine]:
    async with uow:
        return await uow.accounts.trial_balance(caller.tenant_id, as_of)


async def period_closes(uow: AbstractLedgerUnitOfWork, caller: Caller) -> list[PeriodCloseRecord]:
    async with uow:
        return await uow.periods.history(caller.tenant_id)


async def breaks(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    status: str | None,
    kind: str | None,
    page: Page,
) -> Window[BreakRecord]:
    """Breaks, oldest first."""
    async with uow:
        return await uow.reconciliation.breaks(caller.tenant_id, status, kind, page)


async def stripe_account(uow: AbstractLedgerUnitOfWork, caller: Caller) -> str | None:
    """The tenant's own Stripe account its runs read (None: the platform account)."""
    async with uow:
        return await uow.stripe_books.account_of(caller.tenant_id)


async def export_journal(
    uow: AbstractLedgerUnitOfWork,
    tenant_id: str | None,
    start: datetime,
    end: datetime,
    fmt: str,
) -> AsyncIterator[str]:
    """One tenant's postings (with None every tenant's) dated in [start, end), one row
    each, as CSV or JSON chunks (columns in docs/ledger.md), streamed from one snapshot."""
    async with uow:
        async for chunk in uow.books.export(tenant_id, start, end, fmt):
            yield chunk


@dataclass(frozen=True)
class Verification:
    reports: list[ChainReport]
    contradicted: list[str]  # what the journal contradicts of the published checkpoints


async def verify_books(
    uow: AbstractLedgerUnitOfWork, tenant_id: str | None, published: dict[str, Published]
) -> Verification:
    """Every book's hash chain from genesis (or one tenant's), and the checkpoints held
    against it."""
    async with uow:
        reports = await uow.books.verify(tenant_id)
        contradicted = await uow.books.contradicted(published) if published else []
    return Verification(reports, contradicted)


async def audit(uow: AbstractLedgerUnitOfWork) -> list[Check]:
    """Every ledger invariant, checked on the live database."""
    async with uow:
        return await uow.books.audit()


async def _account(uow: AbstractLedgerUnitOfWork, caller: Caller, account_id: int) -> AccountRow:
    account = await uow.accounts.get(caller.tenant_id, account_id)
    if account is None:
        raise NotFound("account", account_id)
    return account


def _encode(pos: Position) -> str:
    return base64.urlsafe_b64encode(
        json.dumps([pos[0].isoformat(), pos[1], pos[2]]).encode()
    ).decode()


def _decode(cursor: str) -> Position:
    try:
        at, seq, line = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (datetime.fromisoformat(at), int(seq), int(line))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("this cursor was not issued by this API") from exc


@dataclass(frozen=True)
class Reported(Generic[R]):
    """A period report and how final it is: a period that ends at or before the books'
    close (``closed_through``) is final, its figures frozen; any other is provisional."""

    report: R
    closed_through: datetime | None

    @property
    def final(self) -> bool:
        end = self.report.period.end
        return self.closed_through is not None and end <= self.closed_through


async def income_statement(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    currency: str,
    period: Period,
    translated: bool = False,
) -> Reported[IncomeStatement]:
    """Income, expenses and net income of ``period`` in ``currency``, beside the previous
    period of equal length; one snapshot. ``translated``: every currency's, in the
    reporting currency (``currency``) at the closing rates in force at the period's end."""
    async with uow:
        sums, closed = await _period_sums(uow, caller, currency, period, translated)
    return Reported(reports.income_statement(currency, period, sums), closed)


async def balance_sheet(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    currency: str,
    period: Period,
    translated: bool = False,
) -> Reported[BalanceSheet]:
    """Assets, liabilities and equity at the start and end of ``period`` (and of the
    previous period), with the period's net income; ``translated`` as the income statement."""
    async with uow:
        sums, closed = await _period_sums(uow, caller, currency, period, translated)
    return Reported(reports.balance_sheet(currency, period, sums), closed)


async def _period_sums(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    currency: str,
    period: Period,
    translated: bool = False,
) -> tuple[list[AccountSums], datetime | None]:
    before, tenant = period.previous(), caller.tenant_id
    if not translated:
        sums = await uow.accounts.period_sums(
            tenant, currency, before.start, period.start, period.end
        )
        return sums, await uow.periods.closed_through(tenant)
    reporting = await uow.fx.reporting_currency(tenant)
    if reporting is None:
        raise fx.NoReportingCurrency("set the tenant's reporting currency first")
    if currency != reporting:
        raise fx.NotReportingCurrency(f"a translated report is in {reporting}, not {currency}")
    currencies = sorted({t.currency for t in await uow.accounts.trial_balance(tenant, period.end)})
    rates = fx.rates_into(reporting, currencies, await uow.fx.rates(tenant, period.end))
    by_currency = {
        c: await uow.accounts.period_sums(tenant, c, before.start, period.start, period.end)
        for c in currencies
    }
    return fx.translate_sums(by_currency, reporting, rates), await uow.periods.closed_through(
        tenant
    )
