"""Advances in PostgreSQL: load, insert, save with optimistic versioning, exposure sums,
the per-tenant-and-currency book lock, and each advance's history (its statement's lines)."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.orders import keyed
from services.financing.adapters.tables import advance_history, advances
from services.financing.domain.advance import ACCEPTED, LIVE, OUTSTANDING, Advance
from services.financing.domain.sizing import Exposure
from shared.db import violates
from shared.metadata import DuplicateExternalReference
from shared.pagination import InvalidCursor, Page, Window
from shared.unit_of_work import Conflict

if TYPE_CHECKING:
    from services.financing.service_layer.unit_of_work import HistoryEntry, HistoryLine

_COLUMNS = [f.name for f in fields(Advance) if f.name != "extra"]
_RATES = ("payout_rate", "locked_rate")  # Decimals, stored as decimal strings
REFERENCE_INDEX = "advances_tenant_external_reference"


def _refused(exc: IntegrityError, advance: Advance) -> Exception:
    if violates(exc, REFERENCE_INDEX) and advance.external_reference is not None:
        return DuplicateExternalReference("advance", advance.external_reference)
    return exc


def _from_row(row: Any) -> Advance:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["reasons"] = tuple(values["reasons"])
    values["metadata"] = dict(values["metadata"])
    for rate in _RATES:
        values[rate] = None if values[rate] is None else Decimal(values[rate])
    return Advance(**values)


def _to_row(advance: Advance) -> dict[str, Any]:
    row = {name: getattr(advance, name) for name in _COLUMNS}
    row["reasons"] = list(advance.reasons)
    for rate in _RATES:
        row[rate] = None if row[rate] is None else str(row[rate])
    return row


class AdvanceRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(
        self, advance_id: str, *, tenant_id: str | None = None, lock: bool = True
    ) -> Advance | None:
        """The advance (row-locked for the transaction unless ``lock`` is False)."""
        query = sa.select(advances).where(advances.c.advance_id == advance_id)
        if tenant_id is not None:
            query = query.where(advances.c.tenant_id == tenant_id)
        if lock:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _from_row(row)

    async def live_for_order(self, tenant_id: str, order_id: str) -> Advance | None:
        row = (
            await self.conn.execute(
                sa.select(advances)
                .where(
                    advances.c.tenant_id == tenant_id,
                    advances.c.order_id == order_id,
                    advances.c.state.in_(LIVE),
                )
                .with_for_update()
            )
        ).first()
        return None if row is None else _from_row(row)

    async def orders_with_live(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (tenant_id, order_id) ``keys`` have a live advance now (no lock: one
        becomes live only under its order's row lock, see service_layer/commands.accept)."""
        if not keys:
            return set()
        a = advances.c
        rows = await self.conn.execute(
            sa.select(a.tenant_id, a.order_id)
            .where(keyed(a.tenant_id, a.order_id, keys), a.state.in_(LIVE))
            .distinct()
        )
        return {(r.tenant_id, r.order_id) for r in rows}

    async def list(
        self,
        tenant_id: str,
        page: Page,
        supplier_id: str | None = None,
        external_reference: str | None = None,
    ) -> Window[Advance]:
        """Newest first; ``starting_after`` an advance of the tenant (and of ``supplier_id``
        when given), else ``InvalidCursor``."""
        a = advances.c
        scope = [a.tenant_id == tenant_id]
        if supplier_id is not None:
            scope.append(a.supplier_id == supplier_id)
        query = sa.select(advances).where(*scope)
        if external_reference is not None:
            query = query.where(a.external_reference == external_reference)
        if page.starting_after is not None:
            after = (
                await self.conn.execute(
                    sa.select(a.created_at, a.advance_id).where(
                        *scope, a.advance_id == page.starting_after
                    )
                )
            ).first()
            if after is None:
                raise InvalidCursor(page.starting_after)
            query = query.where(
                sa.tuple_(a.created_at, a.advance_id) < (after.created_at, after.advance_id)
            )
        query = query.order_by(a.created_at.desc(), a.advance_id.desc()).limit(page.fetch)
        rows = (await self.conn.execute(query)).all()
        return Window.cut([_from_row(r) for r in rows], page)

    async def add(self, advance: Advance) -> Advance:
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(advances.insert().values(**_to_row(advance)))
        except IntegrityError as exc:
            raise _refused(exc, advance) from exc
        return advance

    async def save(self, advance: Advance) -> Advance:
        """Write ``advance`` if nobody saved it since it was loaded (version check)."""
        saved = replace(advance, version=advance.version + 1)
        try:
            async with self.conn.begin_nested():
                result = await self.conn.execute(
                    advances.update()
                    .where(
                        advances.c.advance_id == advance.advance_id,
                        advances.c.version == advance.version,
                    )
                    .values(**_to_row(saved), updated_at=sa.func.now())
                )
        except IntegrityError as exc:
            raise _refused(exc, advance) from exc
        if result.rowcount != 1:
            raise Conflict(f"advance {advance.advance_id} changed since version {advance.version}")
        return saved

    async def lock_book(self, tenant_id: str, currency: str) -> None:
        """Serialise, until the transaction ends, every acceptance of the tenant's book in
        ``currency`` (a transaction-scoped advisory lock), so two cannot both squeeze under
        one limit."""
        key = sa.func.hashtextextended(f"financing:{tenant_id}:{currency}", 0)
        await self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    async def record_history(self, entries: Sequence[HistoryEntry]) -> None:
        if entries:
            await self.conn.execute(
                advance_history.insert(),
                [
                    {
                        "advance_id": e.advance_id,
                        "tenant_id": e.tenant_id,
                        "event_id": e.event_id,
                        "event_type": e.event_type,
                        "at": e.at,
                        "actor": e.actor,
                        "data": e.data,
                    }
                    for e in entries
                ],
            )

    async def history(self, advance_id: str) -> builtins.list[HistoryLine]:
        """(at, event type, event data) of the advance's events, in the order recorded."""
        h = advance_history.c
        rows = await self.conn.execute(
            sa.select(h.at, h.event_type, h.data).where(h.advance_id == advance_id).order_by(h.id)
        )
        return [(r.at, r.event_type, r.data) for r in rows]

    async def exposure(
        self, tenant_id: str, currency: str, supplier_id: str, buyer_id: str, *, excluding: str = ""
    ) -> Exposure:
        """Outstanding balances of live advances (accepted ones at their principal)."""
        a = advances.c
        balance = sa.case(
            (a.state == ACCEPTED, a.principal),
            (
                a.state.in_(OUTSTANDING),
                a.principal
                - a.repaid_fee
                - a.repaid_principal
                - a.repaid_early
                - a.fee_rebated
                - a.written_off,
            ),
            else_=0,
        )

        def total(condition: Any) -> Any:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, balance), else_=0)), 0)

        row = (
            await self.conn.execute(
                sa.select(
                    total(a.supplier_id == supplier_id).label("supplier"),
                    total(a.buyer_id == buyer_id).label("buyer"),
                    total(sa.and_(a.supplier_id == supplier_id, a.buyer_id == buyer_id)).label(
                        "pair"
                    ),
                    total(sa.true()).label("book"),
                ).where(
                    a.tenant_id == tenant_id,
                    a.currency == currency,
                    a.state.in_(LIVE),
                    a.advance_id != excluding,
                )
            )
        ).one()
        return Exposure(int(row.supplier), int(row.buyer), int(row.pair), int(row.book))
