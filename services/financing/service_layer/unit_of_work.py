"""The financing unit of work: the repositories the use cases see, and the one on PostgreSQL.

A use case takes an ``AbstractFinancingUnitOfWork`` (or a factory of them, where it re-runs
on ``Conflict``): ``uow.advances`` (the aggregate, version-checked, its history and the
book lock), ``uow.orders`` (the read model of escrow's orders, row-locked as read),
``uow.policies`` (the tenants' financing policies), ``uow.escrow_progress`` (how far
the tenants' escrow events were read), ``uow.savepoint()`` (a part of the
transaction that is undone alone if it raises), and the backbone's ``uow.outbox`` and
``uow.timers``. ``FinancingUnitOfWork`` builds them on its transaction (``adapters/``);
``tests/unit/financing/fakes.py`` keeps them in memory.

Lock order, always: the order row, then its advance, then the book; so no two transactions
wait on each other in a circle. A repository that finds the advance changed since it was
read raises ``shared.unit_of_work.Conflict``; ``retry_on_conflict`` re-runs the use case.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.advances import AdvanceRepository
from services.financing.adapters.orders import (
    EscrowProgressRepository,
    OrderRepository,
    PolicyRepository,
)
from services.financing.domain.advance import Advance
from services.financing.domain.orders import Disputes, OrderView
from services.financing.domain.policy import Policy
from services.financing.domain.sizing import Exposure
from shared.pagination import Page, Window
from shared.unit_of_work import AbstractUnitOfWork, SqlUnitOfWork

OrderKey = tuple[str, str]  # (tenant_id, order_id)
Found = tuple[OrderView, Disputes]  # an order of the read model and its open disputes
# (at, event type, event data) of one of an advance's events: a statement's raw line.
HistoryLine = tuple[datetime, str, dict[str, object]]


@dataclass(frozen=True)
class HistoryEntry:
    """One of an advance's events as its history keeps it: who caused it, and its data."""

    advance_id: str
    tenant_id: str
    event_id: UUID
    event_type: str
    at: datetime
    actor: str
    data: dict[str, object]


class Advances(Protocol):
    async def get(
        self, advance_id: str, *, tenant_id: str | None = None, lock: bool = True
    ) -> Advance | None:
        """The advance (row-locked until the unit of work ends unless ``lock`` is False);
        with ``tenant_id`` another tenant's advance is None too."""

    async def live_for_order(self, tenant_id: str, order_id: str) -> Advance | None:
        """The order's live advance (accepted or outstanding), row-locked, if it has one."""

    async def orders_with_live(self, keys: Collection[OrderKey]) -> set[OrderKey]:
        """Which of the orders ``keys`` have a live advance now."""

    async def list(
        self,
        tenant_id: str,
        page: Page,
        supplier_id: str | None = None,
        external_reference: str | None = None,
    ) -> Window[Advance]:
        """The tenant's advances (the supplier's only, if named), newest first; a
        ``starting_after`` not among them is ``InvalidCursor``."""

    async def add(self, advance: Advance) -> Advance:
        """A new advance, at its version (``DuplicateExternalReference`` if the tenant has
        one with its external_reference; ``save`` too)."""

    async def save(self, advance: Advance) -> Advance:
        """Write ``advance`` if unchanged since read at ``advance.version``; else ``Conflict``."""

    async def exposure(
        self, tenant_id: str, currency: str, supplier_id: str, buyer_id: str, *, excluding: str = ""
    ) -> Exposure:
        """Outstanding balances of the live advances (accepted ones at their principal)."""

    async def lock_book(self, tenant_id: str, currency: str) -> None:
        """Serialise acceptances on the tenant's book in ``currency`` until the unit ends."""

    async def record_history(self, entries: Sequence[HistoryEntry]) -> None: ...

    async def history(self, advance_id: str) -> builtins.list[HistoryLine]:
        """The advance's events, in the order they were recorded."""


class Orders(Protocol):
    async def get(self, tenant_id: str, order_id: str) -> Found | None:
        """The order and its open disputes, row-locked."""

    async def lock(self, keys: Collection[OrderKey]) -> dict[OrderKey, Found]:
        """The orders there are of ``keys``, row-locked in key order."""

    async def put(self, order: OrderView, disputes: Disputes) -> None: ...

    async def put_all(self, found: Sequence[Found]) -> None:
        """Insert or replace the orders (one statement on PostgreSQL)."""


class EscrowProgress(Protocol):
    async def read_up_to(self, tenant_id: str) -> datetime | None:
        """The latest ``occurred_at`` of the tenant's escrow events consumed (None: none)."""

    async def advance(self, marks: Mapping[str, datetime]) -> None:
        """Record that the tenants' events were consumed up to ``marks`` (never backwards)."""


class Policies(Protocol):
    async def get(self, tenant_id: str, currency: str) -> Policy:
        """The tenant's policy for ``currency``, or the defaults when none was set."""

    async def put(self, tenant_id: str, policy: Policy, actor: str) -> None: ...


class AbstractFinancingUnitOfWork(AbstractUnitOfWork, Protocol):
    @property
    def advances(self) -> Advances: ...

    @property
    def orders(self) -> Orders: ...

    @property
    def policies(self) -> Policies: ...

    @property
    def escrow_progress(self) -> EscrowProgress: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A part of the unit of work: if its block raises, what it wrote is undone (and
        the rest stays); else it stays, to commit with the rest."""
        ...


# A fresh unit of work per call: a use case re-run on Conflict gets a new one each time.
UnitOfWorkFactory = Callable[[], AbstractFinancingUnitOfWork]


class FinancingUnitOfWork(SqlUnitOfWork):
    """One transaction on the financing database (``joining``: a part of the caller's)."""

    advances: Advances
    orders: Orders
    policies: Policies
    escrow_progress: EscrowProgress

    def _open(self, conn: AsyncConnection) -> None:
        super()._open(conn)
        self.advances = AdvanceRepository(conn)
        self.orders = OrderRepository(conn)
        self.policies = PolicyRepository(conn)
        self.escrow_progress = EscrowProgressRepository(conn)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self.conn.begin_nested():
            yield
