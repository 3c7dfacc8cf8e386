"""The ledger unit of work: the repositories the use cases see, and the one on PostgreSQL.

A use case takes an ``AbstractLedgerUnitOfWork``: ``uow.journal`` (the books' locks, what
admission needs to know, the append, transactions read back), ``uow.held_reports`` (what
escrow says each order holds), ``uow.periods`` (closes), ``uow.accounts`` (balances,
statements, the trial balance), ``uow.reconciliation`` (runs and breaks),
``uow.checkpoints`` (book heads due a checkpoint), ``uow.books`` (verification, audit,
export), and the backbone's ``uow.outbox`` and ``uow.timers``. ``LedgerUnitOfWork`` builds
them on its transaction (the SQL is in ``adapters/``); ``tests/unit/ledger/fakes.py`` keeps
them in memory.

The journal is append-only and its books are locked for the whole unit of work, so the
ledger never loses a race to a version check: it has no ``Conflict`` of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters import audit, chain, checkpoints, export, periods, posting, queries
from services.ledger.adapters import recon as sql_recon
from services.ledger.adapters.escrow_held import record_held
from services.ledger.adapters.queries import AccountRow, TrialLine
from services.ledger.adapters.statements import Position, StatementPage, statement_page
from services.ledger.domain.chain import BookHead, ChainReport, Check, Published
from services.ledger.domain.journal import JournalDraft, Line, Posted
from services.ledger.domain.recon import HeldReport, StripeLine
from shared.unit_of_work import AbstractUnitOfWork, SqlUnitOfWork

Head = tuple[int, str]  # a book's last position and hash
# The topic of a unit of work whose use cases stage no event (posting, the CLI's runs).
NO_EVENTS = ""
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class PostingRecord:
    line: int
    account_id: int
    code: str
    subledger: str
    currency: str
    amount: int  # minor units, debit positive
    external_ref: str | None


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A journal transaction as stored, with its postings in line order."""

    id: UUID
    seq: int
    tenant_id: str
    posted_at: datetime
    original_date: datetime | None
    recorded_at: datetime
    source_event_id: UUID
    source_type: str
    kind: str
    actor: str | None
    reason: str | None
    memo: str
    reverses: UUID | None
    hash: str
    book_seq: int | None
    postings: tuple[PostingRecord, ...]

    def lines(self) -> list[Line]:
        return [
            Line(p.code, p.currency, p.amount, p.subledger, p.external_ref) for p in self.postings
        ]


@dataclass(frozen=True, slots=True)
class PeriodCloseRecord:
    tenant_id: str
    closed_through: datetime
    closed_by: str
    reason: str | None
    closed_at: datetime


@dataclass(frozen=True, slots=True)
class BreakRecord:
    id: int
    tenant_id: str
    kind: str
    object_id: str
    currency: str
    ledger_amount: int | None
    other_amount: int | None
    owner: str
    status: str
    first_seen_at: datetime
    last_seen_at: datetime
    first_run_id: int
    last_run_id: int
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None


class Journal(Protocol):
    async def lock_books(self, tenants: Collection[str]) -> dict[str, Head]:
        """Lock the books of ``tenants`` (opening missing ones) until the unit of work ends."""

    async def known(self, source_event_ids: Sequence[UUID]) -> list[Posted]:
        """The transactions the journal has of these source events (``duplicate``)."""

    async def closed_through(self, tenants: Collection[str]) -> dict[str, datetime]: ...

    async def reversed_among(self, transaction_ids: Sequence[UUID]) -> set[UUID]:
        """Those of ``transaction_ids`` a reversal in the journal reverses."""

    async def append(self, drafts: Sequence[JournalDraft], heads: dict[str, Head]) -> list[Posted]:
        """Chain and append admitted ``drafts`` to their books, whose heads are ``heads``."""

    async def transaction(
        self, tenant_id: str, *, id: UUID | None = None, source_event_id: UUID | None = None
    ) -> TransactionRecord | None: ...

    async def reversed_by(self, transaction_id: UUID) -> UUID | None: ...


class HeldReports(Protocol):
    async def record(self, reports: Sequence[HeldReport]) -> None:
        """Keep the latest report per order and currency."""


class Periods(Protocol):
    async def closed_through(self, tenant_id: str) -> datetime | None: ...

    async def add(self, tenant_id: str, through: datetime, actor: str, reason: str | None) -> None:
        """A close through ``through`` (``now()`` is its time)."""

    async def history(self, tenant_id: str) -> list[PeriodCloseRecord]: ...


class Accounts(Protocol):
    async def opened(
        self, tenant_id: str, code: str | None, currency: str | None
    ) -> list[AccountRow]: ...

    async def get(self, tenant_id: str, account_id: int) -> AccountRow | None: ...

    async def balance(self, account_id: int, as_of: datetime) -> int:
        """Raw (debit minus credit) of the postings dated at or before ``as_of``."""

    async def trial_balance(self, tenant_id: str, as_of: datetime) -> list[TrialLine]: ...

    async def statement(
        self, account_id: int, start: datetime, end: datetime, after: Position | None, limit: int
    ) -> StatementPage: ...


class Reconciliation(Protocol):
    async def start_run(self, tenant_id: str, source: str, actor: str) -> int: ...

    async def stage(
        self, run_id: int, lines: Iterable[StripeLine], progress: Progress | None
    ) -> int:
        """Stage a run's Stripe lines (each balance transaction once); how many."""

    async def match(
        self, tenant_id: str, run_id: int, now: datetime, *, stripe: bool
    ) -> dict[str, int]:
        """Match, three-way check, fold into breaks; counts per outcome."""

    async def finish(self, run_id: int, stripe_rows: int) -> None: ...

    async def breaks(
        self, tenant_id: str, status: str | None, kind: str | None, limit: int
    ) -> list[BreakRecord]:
        """Oldest first."""

    async def resolve(
        self, tenant_id: str, break_id: int, resolution: str, by: str, at: datetime
    ) -> BreakRecord | None: ...

    async def assign(self, tenant_id: str, break_id: int, owner: str) -> BreakRecord | None: ...


class Checkpoints(Protocol):
    async def due(self) -> list[BookHead]:
        """Every book whose head moved since its last checkpoint."""

    async def record(self, head: BookHead, event_id: UUID) -> None: ...


class Books(Protocol):
    async def verify(self, tenant_id: str | None) -> list[ChainReport]:
        """One tenant's book, or (None) the legacy chain and every book, from genesis."""

    async def contradicted(self, published: dict[str, Published]) -> list[str]:
        """What the journal contradicts of the published checkpoints."""

    async def audit(self) -> list[Check]: ...

    def export(
        self, tenant_id: str | None, start: datetime, end: datetime, fmt: str
    ) -> AsyncIterator[str]:
        """The postings dated in [start, end), one row each, as CSV or JSON chunks."""


class AbstractLedgerUnitOfWork(AbstractUnitOfWork, Protocol):
    @property
    def journal(self) -> Journal: ...

    @property
    def held_reports(self) -> HeldReports: ...

    @property
    def periods(self) -> Periods: ...

    @property
    def accounts(self) -> Accounts: ...

    @property
    def reconciliation(self) -> Reconciliation: ...

    @property
    def checkpoints(self) -> Checkpoints: ...

    @property
    def books(self) -> Books: ...


UnitOfWorkFactory = Callable[[], AbstractLedgerUnitOfWork]


# --- PostgreSQL ------------------------------------------------------------------------


class _Driver:
    """The asyncpg connection under the unit of work's, fetched once (for COPY and arrays)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._pg: asyncpg.Connection | None = None

    async def pg(self) -> asyncpg.Connection:
        if self._pg is None:
            self._pg = await posting.driver(self._conn)
        return self._pg


class SqlJournal:
    def __init__(self, conn: AsyncConnection, driver: _Driver) -> None:
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
    def __init__(self, driver: _Driver) -> None:
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
        self, tenant_id: str, run_id: int, now: datetime, *, stripe: bool
    ) -> dict[str, int]:
        return await sql_recon.reconcile(self._conn, tenant_id, run_id, now, stripe=stripe)

    async def finish(self, run_id: int, stripe_rows: int) -> None:
        await sql_recon.set_stripe_rows(self._conn, run_id, stripe_rows)

    async def breaks(
        self, tenant_id: str, status: str | None, kind: str | None, limit: int
    ) -> list[BreakRecord]:
        rows = await sql_recon.breaks(self._conn, tenant_id, status, kind, limit)
        return [BreakRecord(**row) for row in rows]

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


class LedgerUnitOfWork(SqlUnitOfWork):
    """One transaction on the ledger database (``joining``: a part of the caller's)."""

    journal: Journal
    held_reports: HeldReports
    periods: Periods
    accounts: Accounts
    reconciliation: Reconciliation
    checkpoints: Checkpoints
    books: Books

    def _open(self, conn: AsyncConnection) -> None:
        super()._open(conn)
        driver = _Driver(conn)
        self.journal = SqlJournal(conn, driver)
        self.held_reports = SqlHeldReports(driver)
        self.periods = SqlPeriods(conn)
        self.accounts = SqlAccounts(conn)
        self.reconciliation = SqlReconciliation(conn)
        self.checkpoints = SqlCheckpoints(conn)
        self.books = SqlBooks(conn)
