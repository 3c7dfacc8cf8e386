"""The ledger unit of work: the repositories the use cases see, and the one on PostgreSQL.

A use case takes an ``AbstractLedgerUnitOfWork``: ``uow.journal`` (the books' locks, what
admission needs to know, the append, transactions read back), ``uow.held_reports`` (what
escrow says each order holds), ``uow.periods`` (closes), ``uow.accounts`` (balances,
statements, the trial balance), ``uow.reconciliation`` (runs and breaks),
``uow.checkpoints`` (book heads due a checkpoint), ``uow.stripe_books`` (the tenant's
Stripe account, the balance transactions seen), ``uow.books`` (verification, audit,
export), and the backbone's ``uow.outbox`` and ``uow.timers``. ``LedgerUnitOfWork`` builds
them on its transaction (the SQL is in ``adapters/``); ``tests/unit/ledger/fakes.py`` keeps
them in memory.

The journal is append-only and its books are locked for the whole unit of work, so the
ledger never loses a race to a version check: it has no ``Conflict`` of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters import repositories as sql
from services.ledger.adapters.break_work import SqlBreakWork
from services.ledger.adapters.queries import AccountRow, TrialLine
from services.ledger.adapters.statements import Position, StatementPage
from services.ledger.domain.breaks import MatchRules, ThresholdChange
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
from services.ledger.service_layer.records import (
    AssignmentRecord,
    BreakRecord,
    CommentRecord,
    PeriodCloseRecord,
    ResolutionRecord,
    StaffAdjustmentRecord,
    TransactionRecord,
)
from shared import pagination
from shared.pagination import Page
from shared.unit_of_work import AbstractUnitOfWork, SqlUnitOfWork

Head = tuple[int, str]  # a book's last position and hash
# The topic of a unit of work whose use cases stage no event (posting, the CLI's runs).
NO_EVENTS = ""
Progress = Callable[[int], None]


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

    async def period_sums(
        self, tenant_id: str, currency: str, previous: datetime, start: datetime, end: datetime
    ) -> list[AccountSums]:
        """Raw sums per account code of ``currency``: dated before ``previous``, in
        [previous, start) and in [start, end)."""


class Reconciliation(Protocol):
    async def start_run(self, tenant_id: str, source: str, actor: str) -> int: ...

    async def stage(
        self, run_id: int, lines: Iterable[StripeLine], progress: Progress | None
    ) -> int:
        """Stage a run's Stripe lines (each balance transaction once); how many."""

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
        """Match (in ``window``), check against escrow (what it answered as of the window's
        end, when asked; else what its events reported), fold into breaks; counts."""

    async def finish(
        self,
        run_id: int,
        stripe_rows: int,
        booked: int,
        window: RunWindow,
        balances: list[ClearingBalance],
    ) -> None: ...

    async def breaks(
        self,
        tenant_id: str,
        status: str | None,
        kind: str | None,
        page: Page,
        *,
        owner: str | None = None,
        seen_at_most: datetime | None = None,
        seen_after: datetime | None = None,
    ) -> pagination.Window[BreakRecord]:
        """Oldest first, of ``owner`` and first seen in ``(seen_after, seen_at_most]`` when
        given; ``starting_after`` a break id of the tenant's (matching or not), else
        ``InvalidCursor``."""

    async def resolve(
        self, tenant_id: str, break_id: int, resolution: str, by: str, at: datetime
    ) -> BreakRecord | None: ...

    async def assign(self, tenant_id: str, break_id: int, owner: str) -> BreakRecord | None: ...


class BreakWork(Protocol):
    """The break workflow's rows (``adapters/break_work.py``)."""

    async def rules(self, tenant_id: str) -> dict[str, MatchRules]:
        """The tenant's matching rules, by currency."""

    async def set_rules(self, tenant_id: str, rules: MatchRules, by: str, at: datetime) -> None: ...

    async def save_adjustment(self, r: StaffAdjustmentRecord) -> None: ...

    async def adjustment(self, tenant_id: str, adjustment_id: UUID) -> StaffAdjustmentRecord | None:
        """The tenant's adjustment request, locked until the unit of work ends."""

    async def pending_thresholds(self, tenant_id: str) -> dict[str, ThresholdChange]:
        """The raises of approval thresholds waiting for a checker, by currency."""

    async def set_pending_threshold(
        self, tenant_id: str, currency: str, change: ThresholdChange | None
    ) -> None:
        """Keep (None: drop) the currency's pending raise; its rules row exists."""

    async def lock(self, tenant_id: str, break_ids: Sequence[int]) -> dict[int, BreakRecord]:
        """The tenant's breaks among ``break_ids``, locked until the unit of work ends."""

    async def all_breaks(self, tenant_id: str) -> list[BreakRecord]: ...

    async def mark_resolved(
        self, tenant_id: str, break_ids: Sequence[int], resolution: str, by: str, at: datetime
    ) -> None: ...

    async def add_comment(
        self, tenant_id: str, break_id: int, author: str, body: str, at: datetime
    ) -> CommentRecord: ...

    async def comments(self, tenant_id: str, break_id: int) -> list[CommentRecord]: ...

    async def assign(
        self, tenant_id: str, break_id: int, assignee: str, by: str, at: datetime
    ) -> AssignmentRecord: ...

    async def assignment(self, tenant_id: str, break_id: int) -> AssignmentRecord | None: ...

    async def resolutions(
        self, tenant_id: str, break_ids: Sequence[int]
    ) -> dict[int, ResolutionRecord]: ...

    async def save_resolution(self, resolution: ResolutionRecord) -> None: ...


class StripeBooks(Protocol):
    """The tenant's Stripe account and the balance transactions the runs have seen."""

    async def account_of(self, tenant_id: str) -> str | None: ...

    async def binding(self, tenant_id: str) -> tuple[str, str, datetime] | None:
        """The tenant's Stripe account, who bound it and when."""

    async def set_account(self, tenant_id: str, account: str, actor: str) -> None:
        """``StripeAccountTaken`` when another tenant has that account."""

    async def claimed(self, tenant_id: str, balance_txn_ids: Sequence[str]) -> set[str]:
        """Those of the balance transactions recorded for another tenant already."""

    async def record(self, tenant_id: str, run_id: int) -> list[StripeLine]:
        """Record the run's staged lines; those never seen before (each id once, ever)."""

    async def payouts_due(self, tenant_id: str, now: datetime) -> list[StripeLine]:
        """Payouts whose arrival date passed, not booked as arrived, not failed."""

    async def arrived(self, tenant_id: str, payout_ids: Sequence[str]) -> set[str]:
        """Those of the payouts (by source id) whose arrival was booked."""

    async def mark_arrived(self, balance_txn_ids: Sequence[str]) -> None: ...

    async def balances(self, tenant_id: str, end: datetime) -> list[ClearingBalance]:
        """Stripe clearing against the sum of the balance transactions' nets, before ``end``."""

    async def fx_positions(
        self, tenant_id: str, refs: Sequence[str]
    ) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
        """Per Stripe object: what the events booked of it in Stripe clearing and what FX
        clearing holds for it, each per currency (``domain/fx.settlement``)."""

    async def unsettled(self, tenant_id: str) -> list[StripeLine]:
        """The tenant's balance transactions with an ``exchange_rate`` whose gross an event
        books, not settled yet (their event may not have come yet)."""

    async def mark_settled(self, balance_txn_ids: Sequence[str]) -> None: ...


class FxBooks(Protocol):
    """Closing rates finance imports, the reporting currency, what escrow holds per order."""

    async def add_rate(self, tenant_id: str, rate: ClosingRate, actor: str) -> bool:
        """Record ``rate``; False when its pair has a rate at that as-of already."""

    async def rates(self, tenant_id: str, as_of: datetime) -> list[ClosingRate]:
        """Every rate of the tenant in force at or before ``as_of``."""

    async def set_reporting_currency(self, tenant_id: str, currency: str, actor: str) -> None: ...

    async def reporting_currency(self, tenant_id: str) -> str | None: ...

    async def open_held(self, tenant_id: str, before: datetime) -> list[OpenHeld]:
        """Escrow held per order and currency (natural, non-zero) of postings dated before
        ``before``, with the order's first posting."""


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
    def break_work(self) -> BreakWork: ...

    @property
    def stripe_books(self) -> StripeBooks: ...

    @property
    def books(self) -> Books: ...

    @property
    def fx(self) -> FxBooks: ...


UnitOfWorkFactory = Callable[[], AbstractLedgerUnitOfWork]


class LedgerUnitOfWork(SqlUnitOfWork):
    """One transaction on the ledger database (``joining``: a part of the caller's)."""

    journal: Journal
    held_reports: HeldReports
    periods: Periods
    accounts: Accounts
    reconciliation: Reconciliation
    checkpoints: Checkpoints
    books: Books
    break_work: BreakWork
    stripe_books: StripeBooks
    fx: FxBooks

    def _open(self, conn: AsyncConnection) -> None:
        super()._open(conn)
        driver = sql.Driver(conn)
        self.journal = sql.SqlJournal(conn, driver)
        self.held_reports = sql.SqlHeldReports(driver)
        self.periods = sql.SqlPeriods(conn)
        self.accounts = sql.SqlAccounts(conn)
        self.reconciliation = sql.SqlReconciliation(conn)
        self.checkpoints = sql.SqlCheckpoints(conn)
        self.books = sql.SqlBooks(conn)
        self.break_work = SqlBreakWork(conn)
        self.stripe_books = sql.SqlStripeBooks(driver)
        self.fx = sql.SqlFxBooks(driver)
