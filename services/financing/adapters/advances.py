"""Advances in PostgreSQL: load, insert, save with optimistic versioning, exposure sums."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.orders import keyed
from services.financing.adapters.tables import advances
from services.financing.domain.advance import ACCEPTED, LIVE, OUTSTANDING, Advance
from services.financing.domain.sizing import Exposure

_COLUMNS = [f.name for f in fields(Advance) if f.name != "extra"]


class ConcurrentUpdate(Exception):
    """Someone else saved this advance since it was loaded; the caller retries."""


def _from_row(row: Any) -> Advance:
    values = {name: getattr(row, name) for name in _COLUMNS}
    values["reasons"] = tuple(values["reasons"])
    return Advance(**values)


def _to_row(advance: Advance) -> dict[str, Any]:
    row = {name: getattr(advance, name) for name in _COLUMNS}
    row["reasons"] = list(advance.reasons)
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
        becomes live only under its order's row lock, see entrypoints/commands.accept)."""
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
        self, tenant_id: str, supplier_id: str | None = None, limit: int = 100
    ) -> list[Advance]:
        query = sa.select(advances).where(advances.c.tenant_id == tenant_id)
        if supplier_id is not None:
            query = query.where(advances.c.supplier_id == supplier_id)
        query = query.order_by(advances.c.created_at.desc()).limit(limit)
        return [_from_row(r) for r in (await self.conn.execute(query)).all()]

    async def add(self, advance: Advance) -> Advance:
        await self.conn.execute(advances.insert().values(**_to_row(advance)))
        return advance

    async def save(self, advance: Advance) -> Advance:
        """Write ``advance`` if nobody saved it since it was loaded (version check)."""
        saved = replace(advance, version=advance.version + 1)
        result = await self.conn.execute(
            advances.update()
            .where(
                advances.c.advance_id == advance.advance_id,
                advances.c.version == advance.version,
            )
            .values(**_to_row(saved), updated_at=sa.func.now())
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(advance.advance_id)
        return saved

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
