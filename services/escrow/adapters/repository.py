"""Loading and saving escrows with optimistic concurrency; listing; the timeline; fee policies.

Functions on a connection; ``service_layer/unit_of_work.py`` wraps them in the repositories
its use cases see. A version mismatch is ``shared.unit_of_work.Conflict``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters.tables import (
    disputes,
    escrows,
    fee_policies,
    fx_settings,
    payment_intents,
    stripe_events,
    tenant_settings,
    timeline,
)
from services.escrow.domain.errors import InvariantViolation
from services.escrow.domain.model import Dispute, Escrow
from shared.db import violates
from shared.events import Envelope
from shared.metadata import DuplicateExternalReference
from shared.pagination import InvalidCursor, Page, Window
from shared.unit_of_work import Conflict

DEFAULT_FEE_BPS = 100  # 1% when a tenant set no policy
REFERENCE_INDEX = "escrows_tenant_external_reference"


def _refused(exc: IntegrityError, escrow: Escrow) -> Exception:
    """What the database's refusal of ``escrow`` means: a taken external_reference, or a
    broken invariant (the CHECK constraints: the database's own guard)."""
    if violates(exc, REFERENCE_INDEX) and escrow.external_reference is not None:
        return DuplicateExternalReference("order", escrow.external_reference)
    return InvariantViolation(f"the database refused the escrow state: {exc.orig}")


def _columns(e: Escrow, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": e.tenant_id,
        "buyer_id": e.buyer_id,
        "supplier_id": e.supplier_id,
        "currency": e.currency,
        "status": e.status,
        "total": e.total,
        "funded": e.funded,
        "released": e.released,
        "refunded": e.refunded,
        "external_reference": e.external_reference,
        "updated_at": now,
        "state": e.model_dump(mode="json", exclude={"version"}),
    }


def _load(row: sa.Row) -> Escrow:
    return Escrow.model_validate({**row.state, "version": row.version})


async def get(conn: AsyncConnection, order_id: str, tenant_id: str | None = None) -> Escrow | None:
    """The escrow, or None; with ``tenant_id`` another tenant's escrow is None too."""
    query = sa.select(escrows.c.state, escrows.c.version).where(escrows.c.order_id == order_id)
    if tenant_id is not None:
        query = query.where(escrows.c.tenant_id == tenant_id)
    row = (await conn.execute(query)).first()
    return _load(row) if row is not None else None


async def lock(conn: AsyncConnection, order_ids: Collection[str]) -> dict[str, Escrow]:
    """The escrows there are of ``order_ids``, row-locked for the transaction in id order
    (so two transactions locking several escrows never wait on each other in a circle)."""
    if not order_ids:
        return {}
    rows = await conn.execute(
        sa.select(escrows.c.state, escrows.c.version)
        .where(escrows.c.order_id == sa.any_(sa.bindparam("ids", list(order_ids), ARRAY(sa.Text))))
        .order_by(escrows.c.order_id)
        .with_for_update()
    )
    return {escrow.order_id: escrow for escrow in map(_load, rows)}


def _insert(escrow: Escrow, now: datetime) -> sa.Insert:
    saved = escrow.model_copy(update={"version": 1})
    return escrows.insert().values(
        order_id=escrow.order_id, version=1, created_at=escrow.created_at, **_columns(saved, now)
    )


async def add(conn: AsyncConnection, escrow: Escrow, now: datetime) -> Escrow:
    """A new escrow at version 1. No savepoint around the INSERT (it cost two round trips on
    every create): a refusal (``DuplicateExternalReference``, ``InvariantViolation``) leaves
    the transaction aborted, and its only caller, ``create_order``, lets it go up and rolls
    the whole unit of work back. A caller that must go on in the same transaction after a
    refusal wraps the call in ``conn.begin_nested()`` itself."""
    try:
        await conn.execute(_insert(escrow, now))
    except IntegrityError as exc:
        raise _refused(exc, escrow) from exc
    return escrow.model_copy(update={"version": 1})


# ``add_recorded``'s statement, built once (one built per call, with its rows as a
# multi-row VALUES, has no cache key: SQLAlchemy compiled it anew on every create): the
# escrow's INSERT as a data-modifying WITH, and the timeline's rows from arrays, any number.
_NEW_ESCROW = ("order_id", "version", "created_at", *(
    "tenant_id", "buyer_id", "supplier_id", "currency", "status", "total", "funded",
    "released", "refunded", "external_reference", "updated_at", "state",
))  # fmt: skip
_TIMELINE_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "order_id": sa.Text(),
    "tenant_id": sa.Text(),
    "event_id": sa.Uuid(),
    "event_type": sa.Text(),
    "actor": sa.Text(),
    "occurred_at": sa.DateTime(timezone=True),
    "data": sa.Text(),  # JSON text, cast below (as ``save_all`` passes states)
}
_TIMELINE_ROWS = sa.select(
    *(
        sa.func.unnest(sa.bindparam(f"t_{name}", type_=ARRAY(type_))).label(name)
        for name, type_ in _TIMELINE_TYPES.items()
    )
).subquery("entries")
_ADD_RECORDED = (
    timeline.insert()
    .from_select(
        list(_TIMELINE_TYPES),
        sa.select(
            *(_TIMELINE_ROWS.c[name] for name in _TIMELINE_TYPES if name != "data"),
            sa.cast(_TIMELINE_ROWS.c.data, JSONB),
        ),
    )
    .add_cte(
        escrows.insert()
        .values(
            {name: sa.bindparam(f"e_{name}", type_=escrows.c[name].type) for name in _NEW_ESCROW}
        )
        .returning(escrows.c.order_id)
        .cte("added_escrow")
    )
)


async def add_recorded(
    conn: AsyncConnection,
    escrow: Escrow,
    now: datetime,
    envelopes: Sequence[Envelope],
    actor: str,
    caused_by: Mapping[UUID, str] | None = None,
) -> Escrow:
    """``add`` and ``record_timeline`` of its events in one statement (the escrow's INSERT
    as a data-modifying WITH, which PostgreSQL runs to completion whether or not the
    timeline's INSERT reads it): one round trip for the two. Refusals as ``add``."""
    rows = _timeline_rows([(escrow, envelopes)], actor, caused_by)
    if not rows:
        return await add(conn, escrow, now)
    saved = escrow.model_copy(update={"version": 1})
    values = {"order_id": escrow.order_id, "version": 1, "created_at": escrow.created_at}
    params = {f"e_{name}": value for name, value in {**values, **_columns(saved, now)}.items()}
    for name in _TIMELINE_TYPES:
        column = [row[name] for row in rows]
        params[f"t_{name}"] = [json.dumps(d) for d in column] if name == "data" else column
    try:
        await conn.execute(_ADD_RECORDED, params)
    except IntegrityError as exc:
        raise _refused(exc, escrow) from exc
    return saved


async def save(conn: AsyncConnection, escrow: Escrow, now: datetime) -> Escrow:
    """Write ``escrow`` if nobody wrote since it was read at ``escrow.version``."""
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                escrows.update()
                .where(escrows.c.order_id == escrow.order_id, escrows.c.version == escrow.version)
                .values(version=escrow.version + 1, **_columns(escrow, now))
            )
    except IntegrityError as exc:
        raise _refused(exc, escrow) from exc
    if result.rowcount != 1:
        raise Conflict(f"escrow {escrow.order_id} changed since version {escrow.version}")
    return escrow.model_copy(update={"version": escrow.version + 1})


# The columns a decision changes (the order's parties, currency and total never change).
_SAVED = sa.select(
    *(
        sa.func.unnest(sa.bindparam(f"new_{name}", type_=ARRAY(type_))).label(name)
        for name, type_ in (
            ("order_id", sa.Text()),
            ("version", sa.Integer()),
            ("status", sa.Text()),
            ("funded", sa.BigInteger()),
            ("released", sa.BigInteger()),
            ("refunded", sa.BigInteger()),
            ("state", sa.Text()),
        )
    )
).subquery("saved")
_SAVE_ALL = (
    escrows.update()
    .where(escrows.c.order_id == _SAVED.c.order_id, escrows.c.version == _SAVED.c.version)
    .values(
        version=_SAVED.c.version + 1,
        status=_SAVED.c.status,
        funded=_SAVED.c.funded,
        released=_SAVED.c.released,
        refunded=_SAVED.c.refunded,
        state=sa.cast(_SAVED.c.state, JSONB),
        updated_at=sa.bindparam("new_updated_at"),
    )
    .returning(escrows.c.order_id)
)


async def save_all(conn: AsyncConnection, changed: Sequence[Escrow], now: datetime) -> list[Escrow]:
    """``save`` for many escrows in one statement, each if nobody wrote it since it was read."""
    if not changed:
        return []
    states = [e.model_dump(mode="json", exclude={"version"}) for e in changed]
    params = {
        "new_order_id": [e.order_id for e in changed],
        "new_version": [e.version for e in changed],
        "new_status": [e.status for e in changed],
        "new_funded": [e.funded for e in changed],
        "new_released": [e.released for e in changed],
        "new_refunded": [e.refunded for e in changed],
        "new_state": [json.dumps(state) for state in states],
        "new_updated_at": now,
    }
    try:
        async with conn.begin_nested():
            saved = set((await conn.execute(_SAVE_ALL, params)).scalars())
    except IntegrityError as exc:  # the CHECK constraint: the database's own guard
        raise InvariantViolation(f"the database refused an escrow state: {exc.orig}") from exc
    stale = [e.order_id for e in changed if e.order_id not in saved]
    if stale:
        raise Conflict(f"escrows {', '.join(stale)} changed since they were read")
    return [e.model_copy(update={"version": e.version + 1}) for e in changed]


async def record_timeline(
    conn: AsyncConnection,
    escrow: Escrow,
    envelopes: Sequence[Envelope],
    actor: str,
    caused_by: Mapping[UUID, str] | None = None,
) -> None:
    """One entry per event, by ``actor`` unless ``caused_by`` names another for its id."""
    await record_timelines(conn, [(escrow, envelopes)], actor, caused_by)


async def record_timelines(
    conn: AsyncConnection,
    entries: Sequence[tuple[Escrow, Sequence[Envelope]]],
    actor: str,
    caused_by: Mapping[UUID, str] | None = None,
) -> None:
    """``record_timeline`` for the events of many escrows, in one statement."""
    rows = _timeline_rows(entries, actor, caused_by)
    if rows:
        await conn.execute(timeline.insert(), rows)


def _timeline_rows(
    entries: Sequence[tuple[Escrow, Sequence[Envelope]]],
    actor: str,
    caused_by: Mapping[UUID, str] | None,
) -> list[dict[str, Any]]:
    caused_by = caused_by or {}
    return [
        {
            "order_id": escrow.order_id,
            "tenant_id": escrow.tenant_id,
            "event_id": env.id,
            "event_type": env.type,
            "actor": caused_by.get(env.id, actor),
            "occurred_at": env.occurred_at,
            "data": env.data,
        }
        for escrow, envelopes in entries
        for env in envelopes
    ]


async def read_timeline(
    conn: AsyncConnection, tenant_id: str, order_id: str, page: Page
) -> Window[sa.Row]:
    """The order's events in the order they happened (oldest first); ``starting_after`` is
    an entry's ``event_id`` of this order."""
    mine = sa.and_(timeline.c.order_id == order_id, timeline.c.tenant_id == tenant_id)
    query = sa.select(timeline).where(mine)
    if page.starting_after is not None:
        try:
            event_id = UUID(page.starting_after)
        except ValueError as exc:
            raise InvalidCursor(page.starting_after) from exc
        seq = await conn.scalar(
            sa.select(timeline.c.seq).where(mine, timeline.c.event_id == event_id)
        )
        if seq is None:
            raise InvalidCursor(page.starting_after)
        query = query.where(timeline.c.seq > seq)
    rows = (await conn.execute(query.order_by(timeline.c.seq).limit(page.fetch))).all()
    return Window.cut(rows, page)


async def list_orders(
    conn: AsyncConnection,
    tenant_id: str,
    page: Page,
    *,
    status: str | None = None,
    buyer_id: str | None = None,
    supplier_id: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    external_reference: str | None = None,
    currency: str | None = None,
) -> Window[Escrow]:
    """Newest first, keyset-paginated on (created_at, order_id). ``starting_after`` is an
    order of the tenant (of ``supplier_id``, when given: a bound supplier key's own), else
    ``InvalidCursor``: another tenant's order is answered as one that never existed."""
    scope = [escrows.c.tenant_id == tenant_id]
    if supplier_id is not None:
        scope.append(escrows.c.supplier_id == supplier_id)
    query = sa.select(escrows.c.state, escrows.c.version).where(*scope)
    for column, value in (
        (escrows.c.status, status),
        (escrows.c.buyer_id, buyer_id),
        (escrows.c.external_reference, external_reference),
        (escrows.c.currency, currency),
    ):
        if value is not None:
            query = query.where(column == value)
    if created_from is not None:
        query = query.where(escrows.c.created_at >= created_from)
    if created_to is not None:
        query = query.where(escrows.c.created_at < created_to)
    if page.starting_after is not None:
        after = (
            await conn.execute(
                sa.select(escrows.c.created_at, escrows.c.order_id).where(
                    *scope, escrows.c.order_id == page.starting_after
                )
            )
        ).first()
        if after is None:
            raise InvalidCursor(page.starting_after)
        query = query.where(
            sa.tuple_(escrows.c.created_at, escrows.c.order_id) < (after.created_at, after.order_id)
        )
    query = query.order_by(escrows.c.created_at.desc(), escrows.c.order_id.desc())
    rows = (await conn.execute(query.limit(page.fetch))).all()
    return Window.cut([_load(r) for r in rows], page)


async def index_payment_intent(conn: AsyncConnection, pi_id: str, escrow: Escrow) -> None:
    await conn.execute(
        pg_insert(payment_intents)
        .values(
            stripe_payment_intent_id=pi_id, order_id=escrow.order_id, tenant_id=escrow.tenant_id
        )
        .on_conflict_do_nothing()
    )


async def orders_of_payment_intent(conn: AsyncConnection, pi_id: str) -> list[str]:
    query = sa.select(payment_intents.c.order_id).where(
        payment_intents.c.stripe_payment_intent_id == pi_id
    )
    return list((await conn.execute(query)).scalars())


async def fee_policy(conn: AsyncConnection, tenant_id: str) -> tuple[int, dict[str, int]]:
    row = (
        await conn.execute(sa.select(fee_policies).where(fee_policies.c.tenant_id == tenant_id))
    ).first()
    if row is None:
        return DEFAULT_FEE_BPS, {}
    return row.basis_points, dict(row.fixed_fees)


async def new_order_policies(conn: AsyncConnection, tenant_id: str) -> dict[str, Any]:
    """The tenant's fee policy, FX settings and dispute deadlines in one round trip (a create
    reads all three): columns NULL where the tenant has set none."""
    tenant = sa.select(sa.bindparam("tenant_id", tenant_id, sa.Text).label("id")).subquery()
    query = sa.select(
        fee_policies.c.basis_points,
        fee_policies.c.fixed_fees,
        fx_settings.c.markup_bps,
        fx_settings.c.policy,
        fx_settings.c.quote_ttl_seconds,
        tenant_settings.c.dispute_terms,
    ).select_from(
        tenant.outerjoin(fee_policies, fee_policies.c.tenant_id == tenant.c.id)
        .outerjoin(fx_settings, fx_settings.c.tenant_id == tenant.c.id)
        .outerjoin(tenant_settings, tenant_settings.c.tenant_id == tenant.c.id)
    )
    return dict((await conn.execute(query)).one()._mapping)


async def set_fee_policy(
    conn: AsyncConnection, tenant_id: str, bps: int, fixed: dict[str, int], actor: str
) -> None:
    stmt = pg_insert(fee_policies).values(
        tenant_id=tenant_id, basis_points=bps, fixed_fees=fixed, updated_by=actor
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={
                "basis_points": stmt.excluded.basis_points,
                "fixed_fees": stmt.excluded.fixed_fees,
                "updated_by": stmt.excluded.updated_by,
                "updated_at": sa.func.now(),
            },
        )
    )


async def dispute_terms(conn: AsyncConnection, tenant_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await conn.scalar(
        sa.select(tenant_settings.c.dispute_terms).where(tenant_settings.c.tenant_id == tenant_id)
    )
    return found


async def set_dispute_terms(
    conn: AsyncConnection, tenant_id: str, terms: dict[str, Any], actor: str
) -> None:
    stmt = pg_insert(tenant_settings).values(
        tenant_id=tenant_id, dispute_terms=terms, updated_by=actor
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={
                "dispute_terms": stmt.excluded.dispute_terms,
                "updated_by": stmt.excluded.updated_by,
                "updated_at": sa.func.now(),
            },
        )
    )


async def claim_stripe_event(conn: AsyncConnection, event_id: str, event_type: str) -> bool:
    """Claim a Stripe event id for this transaction; False if it was claimed before."""
    claimed = (
        await conn.execute(
            pg_insert(stripe_events)
            .values(event_id=event_id, event_type=event_type)
            .on_conflict_do_nothing()
            .returning(stripe_events.c.event_id)
        )
    ).first()
    return claimed is not None


async def index_disputes(
    conn: AsyncConnection, escrow: Escrow, changed: Sequence[Dispute], now: datetime
) -> None:
    """Upsert the listing rows of ``changed`` disputes of ``escrow``."""
    rows = [
        {
            "dispute_id": d.dispute_id,
            "order_id": escrow.order_id,
            "tenant_id": escrow.tenant_id,
            "buyer_id": escrow.buyer_id,
            "supplier_id": escrow.supplier_id,
            "milestone_id": d.milestone_id,
            "status": d.status,
            "opened_at": d.opened_at or now,
            "updated_at": now,
        }
        for d in changed
    ]
    stmt = pg_insert(disputes).values(rows)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["dispute_id"],
            set_={"status": stmt.excluded.status, "updated_at": stmt.excluded.updated_at},
        )
    )


async def list_disputes(
    conn: AsyncConnection,
    tenant_id: str,
    page: Page,
    *,
    status: str | None = None,
    order_id: str | None = None,
    supplier_id: str | None = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
) -> Window[tuple[str, str]]:
    """(order id, dispute id) pairs, newest opened first. ``starting_after`` is a dispute id
    of this tenant (and supplier, for a supplier's list), else ``InvalidCursor``."""
    c = disputes.c
    base = [c.tenant_id == tenant_id]
    if supplier_id is not None:
        base.append(c.supplier_id == supplier_id)
    query = sa.select(c.order_id, c.dispute_id).where(*base)
    for column, value in ((c.status, status), (c.order_id, order_id)):
        if value is not None:
            query = query.where(column == value)
    if opened_after is not None:
        query = query.where(c.opened_at > opened_after)
    if opened_before is not None:
        query = query.where(c.opened_at < opened_before)
    if page.starting_after is not None:
        anchor = (
            await conn.execute(
                sa.select(c.opened_at, c.dispute_id).where(
                    *base, c.dispute_id == page.starting_after
                )
            )
        ).first()
        if anchor is None:
            raise InvalidCursor(page.starting_after)
        query = query.where(sa.tuple_(c.opened_at, c.dispute_id) < tuple(anchor))
    query = query.order_by(c.opened_at.desc(), c.dispute_id.desc()).limit(page.fetch)
    rows = [(r.order_id, r.dispute_id) for r in (await conn.execute(query)).all()]
    return Window.cut(rows, page)


async def order_of_dispute(conn: AsyncConnection, tenant_id: str, dispute_id: str) -> str | None:
    query = sa.select(disputes.c.order_id).where(
        disputes.c.tenant_id == tenant_id, disputes.c.dispute_id == dispute_id
    )
    return (await conn.execute(query)).scalar()
