"""In-memory fakes of financing's unit of work and transfer gateway, for use-case tests.

``FakeFinancingUnitOfWork`` keeps what ``FinancingUnitOfWork`` keeps in PostgreSQL, in
dictionaries: advances by id (version-checked: a stale write is ``Conflict``) and their
history, the order read model, policies. Like every ``FakeUnitOfWork`` it snapshots all of
that on entry and restores it when a block ends without ``commit()``; ``savepoint()`` does
the same for a part of a block. ``uow.race.conflicts = n`` makes the next ``n`` saves lose a
race.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.financing.domain.advance import LIVE, Advance
from services.financing.domain.orders import Disputes, OrderView
from services.financing.domain.policy import Policy
from services.financing.domain.sizing import Exposure
from services.financing.service_layer.gateway import TransferFailed, TransferGateway
from services.financing.service_layer.unit_of_work import (
    Found,
    HistoryEntry,
    HistoryLine,
    OrderKey,
)
from shared.metadata import DuplicateExternalReference
from shared.pagination import InvalidCursor, Page, Window
from shared.unit_of_work import Conflict, FakeUnitOfWork


class Race:
    """Saves that lose a race with another (invisible) writer. Shared by every snapshot, so
    a rolled-back attempt does not give its lost race back."""

    def __init__(self) -> None:
        self.conflicts = 0
        self.lost = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> Race:
        return self

    def check(self, advance_id: str) -> None:
        if self.conflicts > 0:
            self.conflicts -= 1
            self.lost += 1
            raise Conflict(f"advance {advance_id} changed meanwhile (a faked race)")


@dataclass
class FakeAdvances:
    race: Race
    rows: dict[str, Advance] = field(default_factory=dict)
    entries: list[HistoryEntry] = field(default_factory=list)
    books_locked: list[tuple[str, str]] = field(default_factory=list)

    async def get(
        self, advance_id: str, *, tenant_id: str | None = None, lock: bool = True
    ) -> Advance | None:
        advance = self.rows.get(advance_id)
        if advance is None or (tenant_id is not None and advance.tenant_id != tenant_id):
            return None
        return advance

    async def live_for_order(self, tenant_id: str, order_id: str) -> Advance | None:
        return next(
            (
                a
                for a in self.rows.values()
                if (a.tenant_id, a.order_id) == (tenant_id, order_id) and a.state in LIVE
            ),
            None,
        )

    async def orders_with_live(self, keys: Collection[OrderKey]) -> set[OrderKey]:
        live = {(a.tenant_id, a.order_id) for a in self.rows.values() if a.state in LIVE}
        return live & set(keys)

    async def list(
        self,
        tenant_id: str,
        page: Page,
        supplier_id: str | None = None,
        external_reference: str | None = None,
    ) -> Window[Advance]:
        scope = [
            a
            for a in self.rows.values()
            if a.tenant_id == tenant_id and supplier_id in (None, a.supplier_id)
        ]
        newest = sorted(scope, key=lambda a: (a.created_at, a.advance_id), reverse=True)
        ids = [a.advance_id for a in newest]
        start = 0
        if page.starting_after is not None:
            if page.starting_after not in ids:
                raise InvalidCursor(page.starting_after)
            start = ids.index(page.starting_after) + 1
        found = [a for a in newest[start:] if external_reference in (None, a.external_reference)]
        return Window.cut(found[: page.fetch], page)

    def _check_reference(self, advance: Advance) -> None:
        ref = advance.external_reference
        if ref is not None and any(
            (a.tenant_id, a.external_reference) == (advance.tenant_id, ref)
            and a.advance_id != advance.advance_id
            for a in self.rows.values()
        ):
            raise DuplicateExternalReference("advance", ref)

    async def add(self, advance: Advance) -> Advance:
        if advance.advance_id in self.rows:
            raise ValueError(f"advance {advance.advance_id} exists")
        self._check_reference(advance)
        self.rows[advance.advance_id] = advance
        return advance

    async def save(self, advance: Advance) -> Advance:
        self.race.check(advance.advance_id)
        stored = self.rows.get(advance.advance_id)
        if stored is None or stored.version != advance.version:
            raise Conflict(f"advance {advance.advance_id} changed since {advance.version}")
        self._check_reference(advance)
        saved = replace(advance, version=advance.version + 1)
        self.rows[advance.advance_id] = saved
        return saved

    async def exposure(
        self, tenant_id: str, currency: str, supplier_id: str, buyer_id: str, *, excluding: str = ""
    ) -> Exposure:
        live = [
            a
            for a in self.rows.values()
            if (a.tenant_id, a.currency) == (tenant_id, currency)
            and a.state in LIVE
            and a.advance_id != excluding
        ]
        return Exposure(
            supplier=sum(a.exposure for a in live if a.supplier_id == supplier_id),
            buyer=sum(a.exposure for a in live if a.buyer_id == buyer_id),
            pair=sum(
                a.exposure for a in live if (a.supplier_id, a.buyer_id) == (supplier_id, buyer_id)
            ),
            book=sum(a.exposure for a in live),
        )

    async def lock_book(self, tenant_id: str, currency: str) -> None:
        self.books_locked.append((tenant_id, currency))

    async def record_history(self, entries: Sequence[HistoryEntry]) -> None:
        self.entries.extend(entries)

    async def history(self, advance_id: str) -> builtins.list[HistoryLine]:
        return [(e.at, e.event_type, e.data) for e in self.entries if e.advance_id == advance_id]

    def types(self, advance_id: str) -> builtins.list[str]:
        return [e.event_type for e in self.entries if e.advance_id == advance_id]


@dataclass
class FakeOrders:
    rows: dict[OrderKey, Found] = field(default_factory=dict)
    locked: set[OrderKey] = field(default_factory=set)

    async def get(self, tenant_id: str, order_id: str) -> Found | None:
        return (await self.lock([(tenant_id, order_id)])).get((tenant_id, order_id))

    async def lock(self, keys: Collection[OrderKey]) -> dict[OrderKey, Found]:
        self.locked |= set(keys)
        return {k: self.rows[k] for k in sorted(keys) if k in self.rows}

    async def put(self, order: OrderView, disputes: Disputes) -> None:
        await self.put_all([(order, disputes)])

    async def put_all(self, found: Sequence[Found]) -> None:
        for order, disputes in found:
            self.rows[(order.tenant_id, order.order_id)] = (order, dict(disputes))


@dataclass
class FakePolicies:
    rows: dict[tuple[str, str], tuple[Policy, str]] = field(default_factory=dict)

    async def get(self, tenant_id: str, currency: str) -> Policy:
        found = self.rows.get((tenant_id, currency))
        return found[0] if found is not None else Policy(currency=currency)

    async def put(self, tenant_id: str, policy: Policy, actor: str) -> None:
        self.rows[(tenant_id, policy.currency)] = (policy, actor)


@dataclass
class FakeEscrowProgress:
    marks: dict[str, datetime] = field(default_factory=dict)

    async def read_up_to(self, tenant_id: str) -> datetime | None:
        return self.marks.get(tenant_id)

    async def advance(self, marks: Mapping[str, datetime]) -> None:
        for tenant, at in marks.items():
            self.marks[tenant] = max(at, self.marks.get(tenant, at))


class FakeFinancingUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.race = Race()
        self.advances = FakeAdvances(self.race)
        self.orders = FakeOrders()
        self.policies = FakePolicies()
        self.escrow_progress = FakeEscrowProgress()

    def __call__(self) -> FakeFinancingUnitOfWork:
        """The unit of work factory: every unit of work is this one, entered again."""
        return self

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        state = {k: v for k, v in self.__dict__.items() if k not in self._BOOKKEEPING}
        snapshot = copy.deepcopy(state)
        try:
            yield
        except BaseException:
            self.__dict__.update(snapshot)
            raise

    def seed(self, advance: Advance) -> Advance:
        """``advance`` as if committed before the test."""
        self.advances.rows[advance.advance_id] = advance
        return advance

    def seed_order(self, order: OrderView, disputes: Disputes | None = None) -> OrderView:
        self.orders.rows[(order.tenant_id, order.order_id)] = (order, dict(disputes or {}))
        return order


@dataclass
class FakeTransferGateway(TransferGateway):
    """Stripe as a list of transfers; ``refuse`` names destinations it refuses."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        idempotency_key: str,
        metadata: dict[str, str],
        source_transaction: str | None = None,
    ) -> str:
        self.calls.append(
            {
                "source_transaction": source_transaction,
                "amount": amount,
                "currency": currency,
                "destination": destination,
                "transfer_group": transfer_group,
                "idempotency_key": idempotency_key,
                "metadata": metadata,
            }
        )
        if destination in self.refuse:
            raise TransferFailed("account_invalid", "No such destination")
        return f"tr_{len(self.calls)}"
