"""The SQL repositories behind ``service_layer/unit_of_work.py``'s Protocols, each on the
unit of work's connection (the statements themselves are in the modules beside this one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters import (
    audit,
    chain,
    checkpoints,
    export,
    periods,
    posting,
    queries,
    stripe_books,
)
from services.ledger.adapters import fx as sql_fx
from services.ledger.adapters import recon as sql_recon
from services.ledger.adapters.escrow_held import record_held
from services.ledger.adapters.posting import Head
from services.ledger.adapters.queries import AccountRow, TrialLine
from services.ledger.adapters.recon import Progress
from services.ledger.adapters.statements import Position, StatementPage, statement_page
from services.ledger.domain.chain import BookHead, ChainReport, Check, Published
from services.ledger.domain.fx import ClosingRate, OpenHeld
from services.ledger.domain.journal import JournalDraft, Posted
from services.ledger.domain.recon import (
    ClearingBalance,
    EscrowHeld,
    HeldReport,
    RunWindow,
    StripeLine,
)
from services.ledger.domain.reports import AccountSums
from services.ledger.service_layer.errors import StripeAccountTaken
from services.ledger.service_layer.records import (
    BreakRecord,
    PeriodCloseRecord,
    PostingRecord,
    TransactionRecord,
)
from shared.pagination import Page, Window


class Driver:
    """The asyncpg connection under the unit of work's, fetched once (for COPY and arrays)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._pg: asyncpg.Connection | None = None

    async def pg(self) -> asyncpg.Connection:
        if self._pg is None:
            self._pg = await posting.driver(self._conn)
        return self._pg


class SqlJournal:
    def __init__(self, conn: AsyncConnection, driver: Driver) -> None:
        self._conn, self._driver = conn, driver

    async def lock_books(self, tenants: Collection[str]) -> dict[str, Head]:
        return await posting.lock_books(await self._driver.pg(), list(tenants))

    async def known(self, source_event_ids: Sequence[UUID]) -> list[Posted]:
        return await posting.known_sources(await self._driver.pg(), source_event_ids)

    async def closed_through(self, tenants: Collection[str]) -> dict[str, datetime]:
        return await posting.closed_through(await self._driver.pg(), list(tenants))

    async def reversed_among(self, transaction_ids: Sequence[UUID]) -> set[UUID]:
        return await posting.reversed_among(await self._driver.pg(), transaction_ids)

    async def append(self, drafts: Sequence[JournalDraft], heads: dict[str, Head]) -> list[Posted]:
        return await posting.append(await self._driver.pg(), drafts, heads)

    async def transaction(
        self, tenant_id: str, *, id: UUID | None = None, source_event_id: UUID | None = None
    ) -> TransactionRecord | None:
        tx = await queries.transaction(
            self._conn, tenant_id, id=id, source_event_id=source_event_id
        )
        if tx is None:
            return None
        fields = {k: tx[k] for k in TransactionRecord.__dataclass_fields__ if k != "postings"}
        return TransactionRecord(
            **fields, postings=tuple(PostingRecord(**p) for p in tx["postings"])
        )

    async def reversed_by(self, transaction_id: UUID) -> UUID | None:
        return await queries.reversed_by(self._conn, transaction_id)


class SqlHeldReports:
    def __init__(self, driver: Driver) -> None:
        self._driver = driver

    async def record(self, reports: Sequence[HeldReport]) -> None:
        await record_held(await self._driver.pg(), reports)


class SqlPeriods:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def closed_through(self, tenant_id: str) -> datetime | None:
        return await periods.closed_through(self._conn, tenant_id)

    async def add(self, tenant_id: str, through: datetime, actor: str, reason: str | None) -> None:
        await periods.add_close(self._conn, tenant_id, through, actor, reason)

    async def history(self, tenant_id: str) -> list[PeriodCloseRecord]:
        return [
            PeriodCloseRecord(r.tenant_id, r.closed_through, r.closed_by, r.reason, r.closed_at)
            for r in await periods.history(self._conn, tenant_id)
        ]


class SqlAccounts:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def opened(
        self, tenant_id: str, code: str | None, currency: str | None
    ) -> list[AccountRow]:
        return await queries.list_accounts(self._conn, tenant_id, code, currency)

    async def get(self, tenant_id: str, account_id: int) -> AccountRow | None:
        return await queries.get_account(self._conn, tenant_id, account_id)

    async def balance(self, account_id: int, as_of: datetime) -> int:
        return await queries.balance(self._conn, account_id, as_of)

    async def trial_balance(self, tenant_id: str, as_of: datetime) -> list[TrialLine]:
        return await queries.trial_balance(self._conn, tenant_id, as_of)

    async def statement(
        self, account_id: int, start: datetime, end: datetime, after: Position | None, limit: int
    ) -> StatementPage:
        return await statement_page(self._conn, account_id, start, end, after, limit)

    async def period_sums(
        self, tenant_id: str, currency: str, previous: datetime, start: datetime, end: datetime
    ) -> list[AccountSums]:
        return await queries.period_sums(self._conn, tenant_id, currency, previous, start, end)


class SqlReconciliation:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def start_run(self, tenant_id: str, source: str, actor: str) -> int:
        return await sql_recon.start_run(self._conn, tenant_id, source, actor)

    async def stage(
        self, run_id: int, lines: Iterable[StripeLine], progress: Progress | None
    ) -> int:
        return await sql_recon.stage(self._conn, run_id, lines, progress)

    async def match(
        self,
        tenant_id: str,
        run_id: int,
        now: datetime,
        *,
        stripe: bool,
        window: RunWindow,
        escrow: Sequence[EscrowHeld] | None = None,
    ) -> dict[str, int]:
        return await sql_recon.reconcile(
            self._conn, tenant_id, run_id, now, stripe=stripe, window=window, escrow=escrow,
            as_of=window.end,
        )  # fmt: skip

    async def finish(
        self,
        run_id: int,
        stripe_rows: int,
        booked: int,
        window: RunWindow,
        balances: list[ClearingBalance],
    ) -> None:
        await sql_recon.finish_run(self._conn, run_id, stripe_rows, booked, window, balances)

    async def breaks(
        self, tenant_id: str, status: str | None, kind: str | None, page: Page
    ) -> Window[BreakRecord]:
        rows = await sql_recon.breaks(self._conn, tenant_id, status, kind, page)
        return Window([BreakRecord(**row) for row in rows.items], rows.has_more)

    async def resolve(
        self, tenant_id: str, break_id: int, resolution: str, by: str, at: datetime
    ) -> BreakRecord | None:
        row = await sql_recon.update_break(
            self._conn, tenant_id, break_id, status="resolved", resolution=resolution,
            resolved_by=by, resolved_at=at,
        )  # fmt: skip
        return BreakRecord(**row) if row else None

    async def assign(self, tenant_id: str, break_id: int, owner: str) -> BreakRecord | None:
        row = await sql_recon.update_break(self._conn, tenant_id, break_id, owner=owner)
        return BreakRecord(**row) if row else None


class SqlStripeBooks:
    def __init__(self, driver: Driver) -> None:
        self._driver = driver

    async def account_of(self, tenant_id: str) -> str | None:
        return await stripe_books.account_of(await self._driver.pg(), tenant_id)

    async def set_account(self, tenant_id: str, account: str, actor: str) -> None:
        try:
            await stripe_books.set_account(await self._driver.pg(), tenant_id, account, actor)
        except asyncpg.UniqueViolationError as exc:
            raise StripeAccountTaken(account) from exc

    async def record(self, tenant_id: str, run_id: int) -> list[StripeLine]:
        return await stripe_books.record(await self._driver.pg(), tenant_id, run_id)

    async def payouts_due(self, tenant_id: str, now: datetime) -> list[StripeLine]:
        return await stripe_books.payouts_due(await self._driver.pg(), tenant_id, now)

    async def arrived(self, tenant_id: str, payout_ids: Sequence[str]) -> set[str]:
        return await stripe_books.arrived(await self._driver.pg(), tenant_id, payout_ids)

    async def mark_arrived(self, balance_txn_ids: Sequence[str]) -> None:
        await stripe_books.mark_arrived(await self._driver.pg(), balance_txn_ids)

    async def balances(self, tenant_id: str, end: datetime) -> list[ClearingBalance]:
        return await stripe_books.balances(await self._driver.pg(), tenant_id, end)

    async def fx_positions(
        self, tenant_id: str, refs: Sequence[str]
    ) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
        return await stripe_books.fx_positions(await self._driver.pg(), tenant_id, refs)

    async def unsettled(self, tenant_id: str) -> list[StripeLine]:
        return await stripe_books.unsettled(await self._driver.pg(), tenant_id)

    async def mark_settled(self, balance_txn_ids: Sequence[str]) -> None:
        await stripe_books.mark_settled(await self._driver.pg(), balance_txn_ids)


class SqlFxBooks:
    def __init__(self, driver: Driver) -> None:
        self._driver = driver

    async def add_rate(self, tenant_id: str, rate: ClosingRate, actor: str) -> bool:
        return await sql_fx.add_rate(await self._driver.pg(), tenant_id, rate, actor)

    async def rates(self, tenant_id: str, as_of: datetime) -> list[ClosingRate]:
        return await sql_fx.rates(await self._driver.pg(), tenant_id, as_of)

    async def set_reporting_currency(self, tenant_id: str, currency: str, actor: str) -> None:
        await sql_fx.set_reporting(await self._driver.pg(), tenant_id, currency, actor)

    async def reporting_currency(self, tenant_id: str) -> str | None:
        return await sql_fx.reporting(await self._driver.pg(), tenant_id)

    async def open_held(self, tenant_id: str, before: datetime) -> list[OpenHeld]:
        return await sql_fx.open_held(await self._driver.pg(), tenant_id, before)


class SqlCheckpoints:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def due(self) -> list[BookHead]:
        return await checkpoints.due(self._conn)

    async def record(self, head: BookHead, event_id: UUID) -> None:
        await checkpoints.record(self._conn, head, event_id)


class SqlBooks:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def verify(self, tenant_id: str | None) -> list[ChainReport]:
        return await chain.verify_chains(self._conn, tenant_id)

    async def contradicted(self, published: dict[str, Published]) -> list[str]:
        return await checkpoints.check_published(self._conn, published)

    async def audit(self) -> list[Check]:
        return await audit.audit(self._conn)

    async def export(
        self, tenant_id: str | None, start: datetime, end: datetime, fmt: str
    ) -> AsyncIterator[str]:
        source = export.rows(self._conn, tenant_id, start, end)
        chunks = export.as_csv(source) if fmt == "csv" else export.as_json(source)
        async for chunk in chunks:
            yield chunk
