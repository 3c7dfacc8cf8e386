"""The escrow unit of work: the repositories the use cases see, and the one on PostgreSQL.

A use case takes an ``AbstractEscrowUnitOfWork`` (or a factory of them, where it needs two
transactions around a Stripe call): ``uow.escrows`` (the aggregate, version-checked, its
timeline and PaymentIntent index), ``uow.fee_policies``, ``uow.stripe_events`` (webhook
claims), ``uow.refund_alerts`` (the operations records, ``alerts.py``), and the
backbone's ``uow.outbox`` and ``uow.timers``. ``EscrowUnitOfWork`` builds
them on its transaction (``adapters/repository.py``); ``tests/unit/escrow/fakes.py`` keeps
them in memory.

A repository that finds the escrow changed since it was read raises
``shared.unit_of_work.Conflict``; ``retry_on_conflict`` re-runs the use case.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters import repository as sql
from services.escrow.adapters.alerts import SqlRefundAlerts
from services.escrow.adapters.fx import SqlFxStore
from services.escrow.domain.fx import FxRate, FxSettings, Quote
from services.escrow.domain.model import Dispute, Escrow
from services.escrow.domain.terms import DEFAULT_DISPUTE_TERMS, DisputeTerms
from services.escrow.service_layer.alerts import RefundAlerts
from shared.events import Envelope
from shared.pagination import Page, Window
from shared.unit_of_work import AbstractUnitOfWork, SqlUnitOfWork

DEFAULT_FEE_BPS = sql.DEFAULT_FEE_BPS


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    buyer_id: str | None = None
    supplier_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    external_reference: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class TimelineRecord:
    seq: int
    event_id: UUID
    event_type: str
    actor: str
    occurred_at: datetime
    data: dict[str, object]


@dataclass(frozen=True)
class FeeTerms:
    """A tenant's platform fee: basis points of each release plus a fixed fee per currency."""

    basis_points: int
    fixed_fees: dict[str, int] = field(default_factory=dict)


TimelineEntries = Sequence[tuple[Escrow, Sequence[Envelope]]]


@dataclass(frozen=True)
class DisputeFilter:
    status: str | None = None
    order_id: str | None = None
    supplier_id: str | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None


class EscrowRepository(Protocol):
    async def get(self, order_id: str, tenant_id: str | None = None) -> Escrow | None:
        """The escrow, or None; with ``tenant_id`` another tenant's escrow is None too."""

    async def lock(self, order_ids: Collection[str]) -> dict[str, Escrow]:
        """The escrows there are of ``order_ids``, locked until the unit of work ends."""

    async def add(self, escrow: Escrow, now: datetime) -> Escrow:
        """A new escrow, at version 1 (``DuplicateExternalReference`` if the tenant has one
        with its external_reference)."""

    async def add_recorded(
        self,
        escrow: Escrow,
        now: datetime,
        envelopes: Sequence[Envelope],
        actor: str,
        caused_by: Mapping[UUID, str] | None = None,
    ) -> Escrow:
        """``add``, then ``record_timeline`` of ``envelopes`` (one statement on PostgreSQL)."""

    async def save(self, escrow: Escrow, now: datetime) -> Escrow:
        """Write ``escrow`` if unchanged since read at ``escrow.version``; else ``Conflict``
        (``DuplicateExternalReference`` as ``add``)."""

    async def save_all(self, escrows: Sequence[Escrow], now: datetime) -> list[Escrow]:
        """``save`` for many escrows at once (one statement on PostgreSQL)."""

    async def record_timeline(
        self,
        escrow: Escrow,
        envelopes: Sequence[Envelope],
        actor: str,
        caused_by: Mapping[UUID, str] | None = None,
    ) -> None:
        """One entry per event, by ``actor`` unless ``caused_by`` names another for its id."""

    async def record_timelines(
        self, entries: TimelineEntries, actor: str, caused_by: Mapping[UUID, str] | None = None
    ) -> None:
        """``record_timeline`` for the events of many escrows at once."""

    async def timeline(self, tenant_id: str, order_id: str, page: Page) -> Window[TimelineRecord]:
        """Oldest first; ``starting_after`` an entry's event id (``InvalidCursor`` if not
        one of this order's)."""

    async def find(self, tenant_id: str, flt: OrderFilter, page: Page) -> Window[Escrow]:
        """Newest first; ``starting_after`` an order id of the tenant (of ``flt.supplier_id``
        when given), else ``InvalidCursor``."""

    async def index_payment_intent(self, pi_id: str, escrow: Escrow) -> None: ...

    async def orders_of_payment_intent(self, pi_id: str) -> list[str]: ...

    async def index_disputes(
        self, escrow: Escrow, changed: Sequence[Dispute], now: datetime
    ) -> None:
        """Keep the listing of disputes across orders in step with ``escrow``'s."""

    async def find_disputes(
        self, tenant_id: str, flt: DisputeFilter, page: Page
    ) -> Window[tuple[str, str]]:
        """(order id, dispute id), newest opened first; ``starting_after`` a dispute id of
        the list's tenant (and supplier), else ``InvalidCursor``."""

    async def order_of_dispute(self, tenant_id: str, dispute_id: str) -> str | None: ...


class FeePolicies(Protocol):
    async def get(self, tenant_id: str) -> FeeTerms:
        """The tenant's policy, or the default (``DEFAULT_FEE_BPS``, no fixed fee)."""

    async def set(self, tenant_id: str, terms: FeeTerms, actor: str) -> None: ...

    async def dispute_terms(self, tenant_id: str) -> DisputeTerms:
        """The tenant's dispute deadlines, or the defaults (domain/terms.py)."""

    async def set_dispute_terms(self, tenant_id: str, terms: DisputeTerms, actor: str) -> None: ...


class FxStore(Protocol):
    """Rates finance imported, quotes, and the tenant's FX settings (docs/fx.md)."""

    async def import_rates(self, tenant_id: str, rates: Sequence[FxRate], actor: str) -> int: ...

    async def rates(self, tenant_id: str, limit: int = 200) -> list[FxRate]: ...

    async def rate_in_force(
        self, tenant_id: str, from_currency: str, to_currency: str, at: datetime
    ) -> FxRate:
        """The latest rate of the pair effective at ``at``; else ``FxRateUnavailable``."""

    async def add_quote(self, q: Quote) -> None: ...

    async def get_quote(
        self, tenant_id: str, quote_id: str, *, lock: bool = False
    ) -> Quote | None: ...

    async def mark_used(self, q: Quote) -> bool:
        """Record ``q``'s use (``q.used_by``); False if another use got there first."""

    async def settings(self, tenant_id: str) -> FxSettings: ...

    async def set_settings(self, tenant_id: str, settings: FxSettings, actor: str) -> None: ...


class StripeEventClaims(Protocol):
    async def claim(self, event_id: str, event_type: str) -> bool:
        """Claim a Stripe event id with this unit of work; False if claimed before."""


@dataclass(frozen=True)
class NewOrderPolicies:
    """What a new order copies from its tenant's policies in force: fees, the FX policy,
    the dispute deadlines (each the default where the tenant set none)."""

    fees: FeeTerms
    fx: FxSettings
    disputes: DisputeTerms


class AbstractEscrowUnitOfWork(AbstractUnitOfWork, Protocol):
    @property
    def escrows(self) -> EscrowRepository: ...

    @property
    def fee_policies(self) -> FeePolicies: ...

    @property
    def stripe_events(self) -> StripeEventClaims: ...

    @property
    def fx(self) -> FxStore: ...

    @property
    def refund_alerts(self) -> RefundAlerts: ...

    async def new_order_policies(self, tenant_id: str) -> NewOrderPolicies:
        """The tenant's fee policy, FX settings and dispute deadlines, read together."""


# A fresh unit of work per call: a use case with two transactions, or re-run on Conflict.
UnitOfWorkFactory = Callable[[], AbstractEscrowUnitOfWork]


# --- PostgreSQL ------------------------------------------------------------------------


class SqlEscrowRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, order_id: str, tenant_id: str | None = None) -> Escrow | None:
        return await sql.get(self._conn, order_id, tenant_id)

    async def lock(self, order_ids: Collection[str]) -> dict[str, Escrow]:
        return await sql.lock(self._conn, order_ids)

    async def add(self, escrow: Escrow, now: datetime) -> Escrow:
        return await sql.add(self._conn, escrow, now)

    async def add_recorded(
        self,
        escrow: Escrow,
        now: datetime,
        envelopes: Sequence[Envelope],
        actor: str,
        caused_by: Mapping[UUID, str] | None = None,
    ) -> Escrow:
        return await sql.add_recorded(self._conn, escrow, now, envelopes, actor, caused_by)

    async def save(self, escrow: Escrow, now: datetime) -> Escrow:
        return await sql.save(self._conn, escrow, now)

    async def save_all(self, escrows: Sequence[Escrow], now: datetime) -> list[Escrow]:
        return await sql.save_all(self._conn, escrows, now)

    async def record_timeline(
        self,
        escrow: Escrow,
        envelopes: Sequence[Envelope],
        actor: str,
        caused_by: Mapping[UUID, str] | None = None,
    ) -> None:
        await sql.record_timeline(self._conn, escrow, envelopes, actor, caused_by)

    async def record_timelines(
        self, entries: TimelineEntries, actor: str, caused_by: Mapping[UUID, str] | None = None
    ) -> None:
        await sql.record_timelines(self._conn, entries, actor, caused_by)

    async def timeline(self, tenant_id: str, order_id: str, page: Page) -> Window[TimelineRecord]:
        rows = await sql.read_timeline(self._conn, tenant_id, order_id, page)
        records = [
            TimelineRecord(r.seq, r.event_id, r.event_type, r.actor, r.occurred_at, r.data)
            for r in rows.items
        ]
        return Window(records, rows.has_more)

    async def find(self, tenant_id: str, flt: OrderFilter, page: Page) -> Window[Escrow]:
        return await sql.list_orders(
            self._conn,
            tenant_id,
            page,
            status=flt.status,
            buyer_id=flt.buyer_id,
            supplier_id=flt.supplier_id,
            created_from=flt.created_from,
            created_to=flt.created_to,
            external_reference=flt.external_reference,
            currency=flt.currency,
        )

    async def index_payment_intent(self, pi_id: str, escrow: Escrow) -> None:
        await sql.index_payment_intent(self._conn, pi_id, escrow)

    async def orders_of_payment_intent(self, pi_id: str) -> list[str]:
        return await sql.orders_of_payment_intent(self._conn, pi_id)

    async def index_disputes(
        self, escrow: Escrow, changed: Sequence[Dispute], now: datetime
    ) -> None:
        await sql.index_disputes(self._conn, escrow, changed, now)

    async def find_disputes(
        self, tenant_id: str, flt: DisputeFilter, page: Page
    ) -> Window[tuple[str, str]]:
        return await sql.list_disputes(
            self._conn,
            tenant_id,
            page,
            status=flt.status,
            order_id=flt.order_id,
            supplier_id=flt.supplier_id,
            opened_after=flt.opened_after,
            opened_before=flt.opened_before,
        )

    async def order_of_dispute(self, tenant_id: str, dispute_id: str) -> str | None:
        return await sql.order_of_dispute(self._conn, tenant_id, dispute_id)


class SqlFeePolicies:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, tenant_id: str) -> FeeTerms:
        bps, fixed = await sql.fee_policy(self._conn, tenant_id)
        return FeeTerms(bps, fixed)

    async def set(self, tenant_id: str, terms: FeeTerms, actor: str) -> None:
        await sql.set_fee_policy(
            self._conn, tenant_id, terms.basis_points, dict(terms.fixed_fees), actor
        )

    async def dispute_terms(self, tenant_id: str) -> DisputeTerms:
        found = await sql.dispute_terms(self._conn, tenant_id)
        return DEFAULT_DISPUTE_TERMS if found is None else DisputeTerms.model_validate(found)

    async def set_dispute_terms(self, tenant_id: str, terms: DisputeTerms, actor: str) -> None:
        await sql.set_dispute_terms(self._conn, tenant_id, terms.model_dump(), actor)


class SqlStripeEventClaims:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim(self, event_id: str, event_type: str) -> bool:
        return await sql.claim_stripe_event(self._conn, event_id, event_type)


class EscrowUnitOfWork(SqlUnitOfWork):
    """One transaction on the escrow database (``joining``: a part of the caller's)."""

    escrows: EscrowRepository
    fee_policies: FeePolicies
    stripe_events: StripeEventClaims
    refund_alerts: RefundAlerts
    fx: FxStore

    def _open(self, conn: AsyncConnection) -> None:
        super()._open(conn)
        self.escrows = SqlEscrowRepository(conn)
        self.fee_policies = SqlFeePolicies(conn)
        self.stripe_events = SqlStripeEventClaims(conn)
        self.refund_alerts = SqlRefundAlerts(conn)
        self.fx = SqlFxStore(conn)

    async def new_order_policies(self, tenant_id: str) -> NewOrderPolicies:
        row = await sql.new_order_policies(self.conn, tenant_id)
        return NewOrderPolicies(
            fees=(
                FeeTerms(DEFAULT_FEE_BPS, {})
                if row["basis_points"] is None
                else FeeTerms(row["basis_points"], dict(row["fixed_fees"]))
            ),
            fx=(
                FxSettings()
                if row["policy"] is None
                else FxSettings(row["markup_bps"], row["policy"], row["quote_ttl_seconds"])
            ),
            disputes=(
                DEFAULT_DISPUTE_TERMS
                if row["dispute_terms"] is None
                else DisputeTerms.model_validate(row["dispute_terms"])
            ),
        )
