"""In-memory fakes of the escrow's unit of work and payment gateway, for use-case tests.

``FakeEscrowUnitOfWork`` keeps what ``EscrowUnitOfWork`` keeps in PostgreSQL, in
dictionaries: escrows by order id (version-checked: a stale write is ``Conflict``), the
timeline, the PaymentIntent index, fee policies, claimed Stripe events and the operations
records (stuck refunds, refund breaks). Like every
``FakeUnitOfWork`` it snapshots all of that on entry and restores it when a block ends
without ``commit()``. ``uow.race.conflicts = n`` makes the next ``n`` writes lose a race.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from services.escrow.domain.errors import FxRateUnavailable
from services.escrow.domain.fx import FxRate, FxSettings, Quote, rate_in_force
from services.escrow.domain.model import Dispute, Escrow
from services.escrow.domain.terms import DEFAULT_DISPUTE_TERMS, DisputeTerms
from services.escrow.service_layer.alerts import (
    ParkedDeadline,
    RefundBreak,
    Resolution,
    StuckRefund,
)
from services.escrow.service_layer.gateway import (
    PaymentGateway,
    PaymentIntent,
    WebhookRefused,
)
from services.escrow.service_layer.unit_of_work import (
    DEFAULT_FEE_BPS,
    DisputeFilter,
    FeeTerms,
    NewOrderPolicies,
    OrderFilter,
    TimelineEntries,
    TimelineRecord,
)
from shared.events import Envelope
from shared.metadata import DuplicateExternalReference
from shared.pagination import InvalidCursor, Page, Window, paginate
from shared.unit_of_work import Conflict, FakeUnitOfWork


class Race:
    """Writes that lose a race with another (invisible) writer. Shared by every snapshot, so
    a rolled-back attempt does not give its lost race back."""

    def __init__(self) -> None:
        self.conflicts = 0
        self.lost = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> Race:
        return self

    def check(self, order_id: str) -> None:
        if self.conflicts > 0:
            self.conflicts -= 1
            self.lost += 1
            raise Conflict(f"escrow {order_id} changed meanwhile (a faked race)")


@dataclass
class FakeEscrowRepository:
    race: Race
    rows: dict[str, Escrow] = field(default_factory=dict)
    entries: list[tuple[str, str, TimelineRecord]] = field(default_factory=list)
    intents: dict[str, set[str]] = field(default_factory=dict)  # PaymentIntent -> orders
    locked: set[str] = field(default_factory=set)
    # The dispute listing: dispute id -> (order id, opened_at), as escrow_disputes keeps it.
    dispute_index: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    async def get(self, order_id: str, tenant_id: str | None = None) -> Escrow | None:
        escrow = self.rows.get(order_id)
        if escrow is None or (tenant_id is not None and escrow.tenant_id != tenant_id):
            return None
        return escrow

    async def lock(self, order_ids: Collection[str]) -> dict[str, Escrow]:
        self.locked |= set(order_ids)
        return {i: self.rows[i] for i in sorted(order_ids) if i in self.rows}

    def _check_reference(self, escrow: Escrow) -> None:
        ref = escrow.external_reference
        if ref is not None and any(
            e.tenant_id == escrow.tenant_id
            and e.external_reference == ref
            and e.order_id != escrow.order_id
            for e in self.rows.values()
        ):
            raise DuplicateExternalReference("order", ref)

    async def add(self, escrow: Escrow, now: datetime) -> Escrow:
        if escrow.order_id in self.rows:
            raise ValueError(f"escrow {escrow.order_id} exists")
        self._check_reference(escrow)
        saved = escrow.model_copy(update={"version": 1})
        self.rows[escrow.order_id] = saved
        return saved

    async def add_recorded(
        self,
        escrow: Escrow,
        now: datetime,
        envelopes: Sequence[Envelope],
        actor: str,
        caused_by: Mapping[UUID, str] | None = None,
    ) -> Escrow:
        saved = await self.add(escrow, now)
        await self.record_timeline(saved, envelopes, actor, caused_by)
        return saved

    async def save(self, escrow: Escrow, now: datetime) -> Escrow:
        self.race.check(escrow.order_id)
        stored = self.rows.get(escrow.order_id)
        if stored is None or stored.version != escrow.version:
            raise Conflict(f"escrow {escrow.order_id} changed since version {escrow.version}")
        self._check_reference(escrow)
        saved = escrow.model_copy(update={"version": escrow.version + 1})
        self.rows[escrow.order_id] = saved
        return saved

    async def save_all(self, escrows: Sequence[Escrow], now: datetime) -> list[Escrow]:
        stale = [e.order_id for e in escrows if self.rows[e.order_id].version != e.version]
        if stale:
            raise Conflict(f"escrows {', '.join(stale)} changed since they were read")
        return [await self.save(e, now) for e in escrows]

    async def record_timeline(
        self,
        escrow: Escrow,
        envelopes: Sequence[Envelope],
        actor: str,
        caused_by: Mapping[UUID, str] | None = None,
    ) -> None:
        await self.record_timelines([(escrow, envelopes)], actor, caused_by)

    async def record_timelines(
        self, entries: TimelineEntries, actor: str, caused_by: Mapping[UUID, str] | None = None
    ) -> None:
        caused_by = caused_by or {}
        for escrow, envelopes in entries:
            for env in envelopes:
                record = TimelineRecord(
                    seq=len(self.entries) + 1,
                    event_id=env.id,
                    event_type=env.type,
                    actor=caused_by.get(env.id, actor),
                    occurred_at=env.occurred_at,
                    data=dict(env.data),
                )
                self.entries.append((escrow.tenant_id, escrow.order_id, record))

    async def timeline(self, tenant_id: str, order_id: str, page: Page) -> Window[TimelineRecord]:
        mine = [r for t, o, r in self.entries if (t, o) == (tenant_id, order_id)]
        return paginate(mine, page, lambda r: str(r.event_id))

    async def find(self, tenant_id: str, flt: OrderFilter, page: Page) -> Window[Escrow]:
        scope = [
            e
            for e in self.rows.values()
            if e.tenant_id == tenant_id and flt.supplier_id in (None, e.supplier_id)
        ]
        newest_first = sorted(scope, key=lambda e: (e.created_at, e.order_id), reverse=True)
        after = None
        if page.starting_after is not None:
            cursor = [e for e in scope if e.order_id == page.starting_after]
            if not cursor:
                raise InvalidCursor(page.starting_after)
            after = (cursor[0].created_at, cursor[0].order_id)
        found = [
            e
            for e in newest_first
            if flt.status in (None, e.status)
            and flt.buyer_id in (None, e.buyer_id)
            and flt.external_reference in (None, e.external_reference)
            and flt.currency in (None, e.currency)
            and (flt.created_from is None or e.created_at >= flt.created_from)
            and (flt.created_to is None or e.created_at < flt.created_to)
            and (after is None or (e.created_at, e.order_id) < after)
        ]
        return Window.cut(found[: page.fetch], page)

    async def index_payment_intent(self, pi_id: str, escrow: Escrow) -> None:
        self.intents.setdefault(pi_id, set()).add(escrow.order_id)

    async def orders_of_payment_intent(self, pi_id: str) -> list[str]:
        return sorted(self.intents.get(pi_id, set()))

    async def index_disputes(
        self, escrow: Escrow, changed: Sequence[Dispute], now: datetime
    ) -> None:
        for d in changed:
            opened = self.dispute_index.get(d.dispute_id, (escrow.order_id, d.opened_at or now))
            self.dispute_index[d.dispute_id] = opened

    async def find_disputes(
        self, tenant_id: str, flt: DisputeFilter, page: Page
    ) -> Window[tuple[str, str]]:
        base = []
        for dispute_id, (order_id, opened_at) in self.dispute_index.items():
            escrow = self.rows[order_id]
            if escrow.tenant_id == tenant_id and flt.supplier_id in (None, escrow.supplier_id):
                d = next(x for x in escrow.disputes if x.dispute_id == dispute_id)
                base.append((opened_at, dispute_id, order_id, d.status))
        base.sort(reverse=True)
        if page.starting_after is not None:
            anchor = next((x for x in base if x[1] == page.starting_after), None)
            if anchor is None:
                raise InvalidCursor(page.starting_after)
            base = [x for x in base if x[:2] < anchor[:2]]
        listed = [
            (order_id, dispute_id)
            for opened_at, dispute_id, order_id, status in base
            if flt.status in (None, status)
            and flt.order_id in (None, order_id)
            and (flt.opened_after is None or opened_at > flt.opened_after)
            and (flt.opened_before is None or opened_at < flt.opened_before)
        ]
        return Window.cut(listed[: page.fetch], page)

    async def order_of_dispute(self, tenant_id: str, dispute_id: str) -> str | None:
        found = self.dispute_index.get(dispute_id)
        if found is None or self.rows[found[0]].tenant_id != tenant_id:
            return None
        return found[0]


@dataclass
class FakeFeePolicies:
    policies: dict[str, tuple[FeeTerms, str]] = field(default_factory=dict)
    deadlines: dict[str, tuple[DisputeTerms, str]] = field(default_factory=dict)

    async def get(self, tenant_id: str) -> FeeTerms:
        found = self.policies.get(tenant_id)
        return found[0] if found is not None else FeeTerms(DEFAULT_FEE_BPS, {})

    async def set(self, tenant_id: str, terms: FeeTerms, actor: str) -> None:
        self.policies[tenant_id] = (terms, actor)

    async def dispute_terms(self, tenant_id: str) -> DisputeTerms:
        found = self.deadlines.get(tenant_id)
        return found[0] if found is not None else DEFAULT_DISPUTE_TERMS

    async def set_dispute_terms(self, tenant_id: str, terms: DisputeTerms, actor: str) -> None:
        self.deadlines[tenant_id] = (terms, actor)


@dataclass
class FakeFxStore:
    rate_rows: dict[tuple[str, str, str, datetime, str], FxRate] = field(default_factory=dict)
    quotes: dict[str, Quote] = field(default_factory=dict)
    tenant_settings: dict[str, FxSettings] = field(default_factory=dict)

    async def import_rates(self, tenant_id: str, rates: Sequence[FxRate], actor: str) -> int:
        for r in rates:
            key = (tenant_id, r.from_currency, r.to_currency, r.effective_at, r.source)
            self.rate_rows[key] = r
        return len(rates)

    async def rates(self, tenant_id: str, limit: int = 200) -> list[FxRate]:
        mine = [r for k, r in self.rate_rows.items() if k[0] == tenant_id]
        return sorted(mine, key=lambda r: r.effective_at, reverse=True)[:limit]

    async def rate_in_force(
        self, tenant_id: str, from_currency: str, to_currency: str, at: datetime
    ) -> FxRate:
        mine = [r for k, r in self.rate_rows.items() if k[0] == tenant_id]
        try:
            return rate_in_force(mine, from_currency, to_currency, at)
        except FxRateUnavailable:
            raise

    async def add_quote(self, q: Quote) -> None:
        self.quotes[q.quote_id] = q

    async def get_quote(self, tenant_id: str, quote_id: str, *, lock: bool = False) -> Quote | None:
        q = self.quotes.get(quote_id)
        return q if q is not None and q.tenant_id == tenant_id else None

    async def mark_used(self, q: Quote) -> bool:
        stored = self.quotes[q.quote_id]
        if stored.used_by not in (None, q.used_by):
            return False
        self.quotes[q.quote_id] = q
        return True

    async def settings(self, tenant_id: str) -> FxSettings:
        return self.tenant_settings.get(tenant_id, FxSettings())

    async def set_settings(self, tenant_id: str, settings: FxSettings, actor: str) -> None:
        self.tenant_settings[tenant_id] = settings


@dataclass
class FakeStripeEventClaims:
    claimed: set[str] = field(default_factory=set)

    async def claim(self, event_id: str, event_type: str) -> bool:
        if event_id in self.claimed:
            return False
        self.claimed.add(event_id)
        return True


@dataclass
class FakeRefundAlerts:
    escrows: FakeEscrowRepository  # the stuck list shows refunds still pending in them
    stuck_rows: dict[str, StuckRefund] = field(default_factory=dict)
    break_rows: dict[tuple[str, str], RefundBreak] = field(default_factory=dict)
    parked_rows: dict[tuple[str, str, str, str], ParkedDeadline] = field(default_factory=dict)

    async def refused(self, first: StuckRefund) -> StuckRefund:
        seen = self.stuck_rows.get(first.refund_id)
        if seen is not None:
            first = replace(
                seen,
                attempts=seen.attempts + 1,
                last_error=first.last_error,
                last_refused_at=first.last_refused_at,
            )
        self.stuck_rows[first.refund_id] = first
        return first

    async def alerted(self, refund_id: str, at: datetime) -> None:
        seen = self.stuck_rows[refund_id]
        if seen.alerted_at is None:
            self.stuck_rows[refund_id] = replace(seen, alerted_at=at)

    async def stuck(self, tenant_id: str, limit: int) -> list[StuckRefund]:
        def pending(s: StuckRefund) -> bool:
            e = self.escrows.rows.get(s.order_id)
            refunds = e.refunds if e is not None else ()
            return any(r.refund_id == s.refund_id and r.status == "pending" for r in refunds)

        found = [
            s
            for s in self.stuck_rows.values()
            if s.tenant_id == tenant_id and s.alerted_at is not None and pending(s)
        ]
        return sorted(found, key=lambda s: (s.alerted_at or s.last_refused_at, s.refund_id))[:limit]

    async def add_break(self, found: RefundBreak) -> bool:
        key = (found.tenant_id, found.stripe_refund_id)
        if key in self.break_rows:
            return False
        self.break_rows[key] = found
        return True

    async def breaks(
        self, tenant_id: str, limit: int, status: str | None = None
    ) -> list[RefundBreak]:
        found = [
            b
            for b in self.break_rows.values()
            if b.tenant_id == tenant_id
            and (status is None or (b.resolved_at is None) == (status == "open"))
        ]
        return sorted(found, key=lambda b: b.detected_at, reverse=True)[:limit]

    async def stuck_refund(self, tenant_id: str, refund_id: str) -> StuckRefund | None:
        found = self.stuck_rows.get(refund_id)
        return found if found is not None and found.tenant_id == tenant_id else None

    async def resolve_stuck(self, refund_id: str, resolution: Resolution) -> None:
        self.stuck_rows[refund_id] = replace(self.stuck_rows[refund_id], **asdict(resolution))

    async def refund_break(self, tenant_id: str, stripe_refund_id: str) -> RefundBreak | None:
        return self.break_rows.get((tenant_id, stripe_refund_id))

    async def resolve_break(
        self, tenant_id: str, stripe_refund_id: str, resolution: Resolution
    ) -> None:
        key = (tenant_id, stripe_refund_id)
        self.break_rows[key] = replace(self.break_rows[key], **asdict(resolution))

    async def park_deadline(self, parked: ParkedDeadline) -> bool:
        key = (parked.order_id, parked.what, parked.subject, parked.due_at.isoformat())
        if key in self.parked_rows:
            return False
        self.parked_rows[key] = parked
        return True

    async def parked_deadlines(self, tenant_id: str, limit: int) -> list[ParkedDeadline]:
        found = [d for d in self.parked_rows.values() if d.tenant_id == tenant_id]
        return sorted(found, key=lambda d: d.parked_at, reverse=True)[:limit]


class FakeEscrowUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.race = Race()
        self.escrows = FakeEscrowRepository(self.race)
        self.fee_policies = FakeFeePolicies()
        self.stripe_events = FakeStripeEventClaims()
        self.refund_alerts = FakeRefundAlerts(self.escrows)
        self.fx = FakeFxStore()

    async def new_order_policies(self, tenant_id: str) -> NewOrderPolicies:
        return NewOrderPolicies(
            fees=await self.fee_policies.get(tenant_id),
            fx=await self.fx.settings(tenant_id),
            disputes=await self.fee_policies.dispute_terms(tenant_id),
        )

    def __call__(self) -> FakeEscrowUnitOfWork:
        """The unit of work factory: every unit of work is this one, entered again."""
        return self

    def seed(self, escrow: Escrow) -> Escrow:
        """``escrow`` as if committed before the test (at version 1)."""
        saved = escrow.model_copy(update={"version": 1})
        self.escrows.rows[escrow.order_id] = saved
        return saved


@dataclass
class Call:
    operation: str
    kwargs: dict[str, Any]


class FakeGateway(PaymentGateway):
    """Stripe as a list of calls; ``fail[operation] = error`` makes that operation raise."""

    SIGNATURE = "t=1,v1=good"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.fail: dict[str, Exception] = {}

    def _call(self, operation: str, kwargs: dict[str, Any]) -> int:
        self.calls.append(Call(operation, kwargs))
        error = self.fail.get(operation)
        if error is not None:
            raise error
        return len(self.calls)

    def made(self, operation: str) -> list[dict[str, Any]]:
        return [c.kwargs for c in self.calls if c.operation == operation]

    async def create_payment_intent(self, **kwargs: Any) -> PaymentIntent:
        n = self._call("payment_intent", kwargs)
        return PaymentIntent(id=f"pi_{n}", client_secret=f"pi_{n}_secret")

    async def transfer(self, **kwargs: Any) -> str:
        return f"tr_{self._call('transfer', kwargs)}"

    async def refund(self, **kwargs: Any) -> str:
        return f"re_{self._call('refund', kwargs)}"

    def verify_webhook(self, payload: bytes, signature: str | None) -> object:
        if signature != self.SIGNATURE:
            raise WebhookRefused("invalid_signature", "not signed by the fake")
        return json.loads(payload)
