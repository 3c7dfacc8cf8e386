"""The SQL repositories behind ``service_layer/unit_of_work.py``'s Protocols."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.webhooks.adapters.tables import attempts, deliveries, endpoints
from services.webhooks.domain.model import PENDING, Attempt, Delivery, Endpoint
from services.webhooks.service_layer.unit_of_work import Claimed
from shared.db import violates
from shared.metadata import DuplicateExternalReference
from shared.pagination import InvalidCursor, Page

ENDPOINT_FIELDS = (
    "id",
    "tenant_id",
    "url",
    "description",
    "metadata",
    "external_reference",
    "enabled",
    "disabled_reason",
    "secret",
    "previous_secret",
    "previous_secret_expires_at",
    "consecutive_failures",
    "failing_since",
    "created_at",
    "updated_at",
)
REFERENCE_INDEX = "webhook_endpoints_tenant_external_reference"


def _endpoint(row: Any) -> Endpoint:
    m = row._mapping
    return Endpoint(**{f: m[f] for f in ENDPOINT_FIELDS}, enabled_events=tuple(m["enabled_events"]))


def _endpoint_row(e: Endpoint) -> dict[str, Any]:
    return {**{f: getattr(e, f) for f in ENDPOINT_FIELDS}, "enabled_events": list(e.enabled_events)}


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(
        id=m["id"],
        tenant_id=m["tenant_id"],
        endpoint_id=m["endpoint_id"],
        event_id=m["event_id"],
        event_type=m["event_type"],
        payload=m["payload"],
        status=m["status"],
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        created_at=m["created_at"],
        redelivery_of=m["redelivery_of"],
    )


def _delivery_row(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "tenant_id": d.tenant_id,
        "endpoint_id": d.endpoint_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "payload": d.payload,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "created_at": d.created_at,
        "redelivery_of": d.redelivery_of,
        "leased_until": None,
    }


async def _page(
    conn: AsyncConnection, query: sa.Select[Any], key: sa.ColumnElement[Any], page: Page, scope: Any
) -> tuple[list[Any], bool]:
    if page.starting_after is not None:
        found = await conn.scalar(sa.select(sa.literal(1)).where(scope, key == page.starting_after))
        if found is None:
            raise InvalidCursor(page.starting_after)
        query = query.where(key < page.starting_after)
    rows = (await conn.execute(query.order_by(key.desc()).limit(page.fetch))).all()
    return rows[: page.limit], len(rows) > page.limit


class SqlEndpoints:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, endpoint: Endpoint) -> None:
        await self._write(endpoint, endpoints.insert().values(_endpoint_row(endpoint)))

    async def _write(self, endpoint: Endpoint, statement: Any) -> None:
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(statement)
        except IntegrityError as exc:
            if endpoint.external_reference is not None and violates(exc, REFERENCE_INDEX):
                raise DuplicateExternalReference(
                    "webhook endpoint", endpoint.external_reference
                ) from exc
            raise

    async def get(self, tenant_id: str, endpoint_id: str, *, lock: bool = False) -> Endpoint | None:
        query = endpoints.select().where(
            endpoints.c.tenant_id == tenant_id, endpoints.c.id == endpoint_id
        )
        row = (await self._conn.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else _endpoint(row)

    async def save(self, endpoint: Endpoint) -> None:
        await self._write(
            endpoint,
            endpoints.update().where(endpoints.c.id == endpoint.id).values(_endpoint_row(endpoint)),
        )

    async def delete(self, tenant_id: str, endpoint_id: str) -> bool:
        result = await self._conn.execute(
            endpoints.delete().where(
                endpoints.c.tenant_id == tenant_id, endpoints.c.id == endpoint_id
            )
        )
        return bool(result.rowcount)

    async def count(self, tenant_id: str) -> int:
        key = sa.func.hashtextextended(sa.literal(f"webhook_endpoints:{tenant_id}"), 0)
        await self._conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
        found = await self._conn.scalar(
            sa.select(sa.func.count()).where(endpoints.c.tenant_id == tenant_id)
        )
        return int(found or 0)

    async def find(self, tenant_id: str, page: Page) -> tuple[list[Endpoint], bool]:
        mine = endpoints.c.tenant_id == tenant_id
        rows, more = await _page(
            self._conn,
            endpoints.select().where(mine),
            endpoints.c.id,
            page,
            sa.and_(mine, endpoints.c.id == page.starting_after),
        )
        return [_endpoint(r) for r in rows], more

    async def enabled_for(self, tenant_ids: Collection[str]) -> dict[str, list[Endpoint]]:
        if not tenant_ids:
            return {}
        rows = await self._conn.execute(
            endpoints.select()
            .where(endpoints.c.tenant_id.in_(sorted(tenant_ids)), endpoints.c.enabled)
            .order_by(endpoints.c.id)
        )
        out: dict[str, list[Endpoint]] = {}
        for row in rows:
            out.setdefault(row.tenant_id, []).append(_endpoint(row))
        return out


class SqlDeliveries:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add_all(self, items: Sequence[Delivery]) -> None:
        if items:
            await self._conn.execute(deliveries.insert(), [_delivery_row(d) for d in items])

    async def get(self, tenant_id: str, endpoint_id: str, delivery_id: str) -> Delivery | None:
        row = (
            await self._conn.execute(
                deliveries.select().where(
                    deliveries.c.tenant_id == tenant_id,
                    deliveries.c.endpoint_id == endpoint_id,
                    deliveries.c.id == delivery_id,
                )
            )
        ).first()
        return None if row is None else _delivery(row)

    async def find(
        self, endpoint_id: str, page: Page
    ) -> tuple[list[tuple[Delivery, list[Attempt]]], bool]:
        mine = deliveries.c.endpoint_id == endpoint_id
        rows, more = await _page(
            self._conn,
            deliveries.select().where(mine),
            deliveries.c.id,
            page,
            sa.and_(mine, deliveries.c.id == page.starting_after),
        )
        found = [_delivery(r) for r in rows]
        by_delivery: dict[str, list[Attempt]] = {d.id: [] for d in found}
        if found:
            tried = await self._conn.execute(
                attempts.select()
                .where(attempts.c.delivery_id.in_(list(by_delivery)))
                .order_by(attempts.c.delivery_id, attempts.c.number)
            )
            for a in tried:
                by_delivery[a.delivery_id].append(
                    Attempt(
                        a.delivery_id,
                        a.number,
                        a.at,
                        a.status_code,
                        a.latency_ms,
                        a.response_excerpt,
                        a.error,
                    )
                )
        return [(d, by_delivery[d.id]) for d in found], more

    async def latest_per_event(
        self,
        endpoint_id: str,
        since: datetime,
        until: datetime,
        limit: int,
        status: str | None = None,
    ) -> list[Delivery]:
        first = (
            sa.select(deliveries.c.event_id)
            .where(deliveries.c.endpoint_id == endpoint_id)
            .group_by(deliveries.c.event_id)
            .having(sa.func.min(deliveries.c.created_at) >= since)
            .having(sa.func.min(deliveries.c.created_at) < until)
        )
        latest = (
            sa.select(deliveries)
            .ext(distinct_on(deliveries.c.event_id))
            .where(deliveries.c.endpoint_id == endpoint_id)
            .where(deliveries.c.event_id.in_(first.scalar_subquery()))
            .order_by(deliveries.c.event_id, deliveries.c.id.desc())
            .subquery()
        )
        # The status is chosen before the limit: the bound counts the events chosen.
        query = sa.select(latest).order_by(latest.c.id).limit(limit)
        if status is not None:
            query = query.where(latest.c.status == status)
        rows = (await self._conn.execute(query)).all()
        return [_delivery(r) for r in rows]

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        per_endpoint: int,
        lease: timedelta,
        per_tenant: int | None = None,
    ) -> list[Claimed]:
        # Leased now, per endpoint and per tenant, by any worker: such an endpoint (tenant)
        # gets no more than its share. Two workers claiming at once may each fill it (the
        # count is read before either commits): the bound is per worker at worst.
        leased_now = sa.and_(deliveries.c.status == PENDING, deliveries.c.leased_until > now)
        in_flight = (
            sa.select(deliveries.c.endpoint_id, sa.func.count().label("n"))
            .where(leased_now)
            .group_by(deliveries.c.endpoint_id)
            .subquery()
        )
        tenant_in_flight = (
            sa.select(deliveries.c.tenant_id, sa.func.count().label("n"))
            .where(leased_now)
            .group_by(deliveries.c.tenant_id)
            .subquery()
        )
        ranked = (
            sa.select(
                deliveries.c.id,
                deliveries.c.tenant_id,
                deliveries.c.next_attempt_at,
                sa.func.row_number()
                .over(partition_by=deliveries.c.endpoint_id, order_by=deliveries.c.next_attempt_at)
                .label("rank"),
                sa.func.coalesce(in_flight.c.n, 0).label("busy"),
            )
            .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
            .outerjoin(in_flight, in_flight.c.endpoint_id == deliveries.c.endpoint_id)
            .where(
                deliveries.c.status == PENDING,
                deliveries.c.next_attempt_at <= now,
                sa.or_(deliveries.c.leased_until.is_(None), deliveries.c.leased_until <= now),
                endpoints.c.enabled,
            )
            .subquery()
        )
        within_endpoint = ranked.c.rank + ranked.c.busy <= per_endpoint
        if per_tenant is None:
            candidates = sa.select(ranked.c.id).where(within_endpoint)
        else:
            # Ranked within the tenant among the rows its endpoints' shares admit, so an
            # endpoint at its share does not use up the tenant's for its other endpoints.
            admitted = (
                sa.select(
                    ranked.c.id,
                    sa.func.row_number()
                    .over(partition_by=ranked.c.tenant_id, order_by=ranked.c.next_attempt_at)
                    .label("tenant_rank"),
                    sa.func.coalesce(tenant_in_flight.c.n, 0).label("tenant_busy"),
                )
                .outerjoin(tenant_in_flight, tenant_in_flight.c.tenant_id == ranked.c.tenant_id)
                .where(within_endpoint)
                .subquery()
            )
            candidates = sa.select(admitted.c.id).where(
                admitted.c.tenant_rank + admitted.c.tenant_busy <= per_tenant
            )
        # The lease is checked again here, on the row being locked, not only in the
        # subquery: a claim whose snapshot predates another worker's committed claim still
        # finds the row unleased in its subquery, and PostgreSQL re-checks (EvalPlanQual)
        # only this query's own conditions against the row's newest version. Without them
        # here, both workers would lease, and send, the same attempt.
        locked = (
            sa.select(deliveries.c.id)
            .where(deliveries.c.id.in_(candidates.scalar_subquery()))
            .where(deliveries.c.status == PENDING)
            .where(deliveries.c.next_attempt_at <= now)
            .where(sa.or_(deliveries.c.leased_until.is_(None), deliveries.c.leased_until <= now))
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list((await self._conn.execute(locked)).scalars())
        if not ids:
            return []
        until = now + lease
        await self._conn.execute(
            deliveries.update().where(deliveries.c.id.in_(ids)).values(leased_until=until)
        )
        rows = await self._conn.execute(
            sa.select(
                deliveries,
                endpoints.c.secret,
                endpoints.c.url.label("endpoint_url"),
                endpoints.c.previous_secret,
                endpoints.c.previous_secret_expires_at,
            )
            .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
            .where(deliveries.c.id.in_(ids))
            .order_by(deliveries.c.next_attempt_at)
        )
        out = []
        for row in rows:
            secrets = [row.secret]
            expires = row.previous_secret_expires_at
            if row.previous_secret and expires is not None and now < expires:
                secrets.append(row.previous_secret)
            out.append(Claimed(_delivery(row), row.endpoint_url, tuple(secrets), until))
        return out

    async def lock(self, delivery_id: str) -> Delivery | None:
        row = (
            await self._conn.execute(
                deliveries.select().where(deliveries.c.id == delivery_id).with_for_update()
            )
        ).first()
        return None if row is None else _delivery(row)

    async def leased_until(self, delivery_id: str) -> datetime | None:
        found: datetime | None = await self._conn.scalar(
            sa.select(deliveries.c.leased_until).where(deliveries.c.id == delivery_id)
        )
        return found

    async def save(self, delivery: Delivery) -> None:
        await self._conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery.id)
            .values(
                status=delivery.status,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                leased_until=None,
            )
        )

    async def add_attempt(self, attempt: Attempt) -> None:
        await self._conn.execute(
            insert(attempts)
            .values(
                delivery_id=attempt.delivery_id,
                number=attempt.number,
                at=attempt.at,
                status_code=attempt.status_code,
                latency_ms=attempt.latency_ms,
                response_excerpt=attempt.response_excerpt,
                error=attempt.error,
            )
            .on_conflict_do_nothing()
        )
