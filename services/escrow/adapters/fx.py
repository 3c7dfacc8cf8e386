"""FX records on PostgreSQL: imported rates, quotes (used once: a conditional update), the
tenant's FX settings. The service layer sees them as ``uow.fx`` (``FxStore``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters.tables import fx_quotes, fx_rates, fx_settings
from services.escrow.domain.errors import FxRateUnavailable
from services.escrow.domain.fx import FxPolicy, FxRate, FxSettings, Quote, QuoteSide
from shared.fx import FxConversion


class SqlFxStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def import_rates(self, tenant_id: str, rates: Sequence[FxRate], actor: str) -> int:
        """Store ``rates``; the same pair, time and source imported again replaces it."""
        if not rates:
            return 0
        stmt = pg_insert(fx_rates).values(
            [
                {
                    "tenant_id": tenant_id,
                    "from_currency": r.from_currency,
                    "to_currency": r.to_currency,
                    "effective_at": r.effective_at,
                    "source": r.source,
                    "mid_rate": f"{r.mid_rate:f}",
                    "imported_by": actor,
                }
                for r in rates
            ]
        )
        await self._conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[
                    "tenant_id",
                    "from_currency",
                    "to_currency",
                    "effective_at",
                    "source",
                ],
                set_={
                    "mid_rate": stmt.excluded.mid_rate,
                    "imported_by": stmt.excluded.imported_by,
                    "imported_at": sa.func.now(),
                },
            )
        )
        return len(rates)

    async def rates(self, tenant_id: str, limit: int = 200) -> list[FxRate]:
        query = (
            sa.select(fx_rates)
            .where(fx_rates.c.tenant_id == tenant_id)
            .order_by(
                fx_rates.c.effective_at.desc(), fx_rates.c.from_currency, fx_rates.c.to_currency
            )
            .limit(limit)
        )
        return [_rate(row) for row in await self._conn.execute(query)]

    async def rate_in_force(
        self, tenant_id: str, from_currency: str, to_currency: str, at: datetime
    ) -> FxRate:
        query = (
            sa.select(fx_rates)
            .where(
                fx_rates.c.tenant_id == tenant_id,
                fx_rates.c.from_currency == from_currency,
                fx_rates.c.to_currency == to_currency,
                fx_rates.c.effective_at <= at,
            )
            .order_by(fx_rates.c.effective_at.desc(), fx_rates.c.imported_at.desc())
            .limit(1)
        )
        row = (await self._conn.execute(query)).first()
        if row is None:
            raise FxRateUnavailable(
                f"no {from_currency}/{to_currency} rate in force at {at.isoformat()}"
            )
        return _rate(row)

    async def add_quote(self, q: Quote) -> None:
        await self._conn.execute(
            sa.insert(fx_quotes).values(
                quote_id=q.quote_id,
                tenant_id=q.tenant_id,
                side=q.side,
                amount=q.amount,
                conversion=q.conversion.model_dump(mode="json"),
                source=q.source,
                created_at=q.created_at,
                expires_at=q.expires_at,
            )
        )

    async def get_quote(self, tenant_id: str, quote_id: str, *, lock: bool = False) -> Quote | None:
        query = sa.select(fx_quotes).where(
            fx_quotes.c.quote_id == quote_id, fx_quotes.c.tenant_id == tenant_id
        )
        if lock:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return Quote(
            quote_id=row.quote_id,
            tenant_id=row.tenant_id,
            side=cast(QuoteSide, row.side),
            amount=row.amount,
            conversion=FxConversion.model_validate(row.conversion),
            source=row.source,
            created_at=row.created_at,
            expires_at=row.expires_at,
            used_by=row.used_by,
            used_at=row.used_at,
        )

    async def mark_used(self, q: Quote) -> bool:
        """Record ``q``'s use; False if another use was recorded meanwhile."""
        result = await self._conn.execute(
            sa.update(fx_quotes)
            .where(
                fx_quotes.c.quote_id == q.quote_id,
                sa.or_(fx_quotes.c.used_by.is_(None), fx_quotes.c.used_by == q.used_by),
            )
            .values(used_by=q.used_by, used_at=q.used_at)
        )
        return bool(result.rowcount)

    async def settings(self, tenant_id: str) -> FxSettings:
        row = (
            await self._conn.execute(
                sa.select(fx_settings).where(fx_settings.c.tenant_id == tenant_id)
            )
        ).first()
        if row is None:
            return FxSettings()
        return FxSettings(row.markup_bps, cast(FxPolicy, row.policy), row.quote_ttl_seconds)

    async def set_settings(self, tenant_id: str, settings: FxSettings, actor: str) -> None:
        stmt = pg_insert(fx_settings).values(
            tenant_id=tenant_id,
            markup_bps=settings.markup_bps,
            policy=settings.policy,
            quote_ttl_seconds=settings.quote_ttl_seconds,
            updated_by=actor,
        )
        await self._conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id"],
                set_={
                    "markup_bps": stmt.excluded.markup_bps,
                    "policy": stmt.excluded.policy,
                    "quote_ttl_seconds": stmt.excluded.quote_ttl_seconds,
                    "updated_by": stmt.excluded.updated_by,
                    "updated_at": sa.func.now(),
                },
            )
        )


def _rate(row: sa.Row[tuple[object, ...]]) -> FxRate:
    return FxRate(
        from_currency=row.from_currency,
        to_currency=row.to_currency,
        mid_rate=Decimal(row.mid_rate),
        effective_at=row.effective_at,
        source=row.source,
    )
