"""Financing's use cases: one function per command (and query) an entrypoint issues.

Each takes a unit of work (a factory of them where it re-runs on ``Conflict``), the clock
and plain arguments: the tenant, the supplier the request acts for (the HTTP entrypoint
resolves it with ``shared.http.principal.Principal``), the actor. It returns domain results
and raises domain errors (``AdvanceRuleViolated``, ``PolicyError``) or the service layer's
own (``errors.py``). Nothing here knows HTTP.

Limits are checked again at acceptance under the book lock (per tenant and currency), so
two concurrent acceptances cannot both squeeze under the same limit. Locks are taken order
first, then advance, then the book, as escrow's events take them. ``before_commit``, when
given, sees the advance about to commit, inside its unit of work: the HTTP entrypoint
registers there the answer it gives, so a retry after a crash gets the committed result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.financing.domain import arrival, credit, lifecycle, servicing, sizing
from services.financing.domain.advance import Advance, Step
from services.financing.domain.orders import OrderView
from services.financing.domain.policy import Policy
from services.financing.domain.sizing import Headroom, Refusal, fx_reasons, order_reasons, size
from services.financing.domain.statement import Statement, build_statement
from services.financing.service_layer.decisions import BeforeCommit, write_step
from services.financing.service_layer.errors import (
    AdvanceNotFound,
    AdvanceRefusal,
    FxRateNotLocked,
    OrderNotFound,
    OrderNotYetKnown,
)
from services.financing.service_layer.unit_of_work import (
    AbstractFinancingUnitOfWork,
    UnitOfWorkFactory,
)
from shared.clock import Clock
from shared.events.envelope import new_event_id
from shared.metadata import merge_metadata, new_metadata
from shared.pagination import Page, Window
from shared.unit_of_work import retry_on_conflict

# How long after its id was made an order financing does not hold may still be on its way
# (settings.financing_order_arrival_seconds in the API).
ARRIVAL_HORIZON = timedelta(minutes=10)
# A use case's decision on the advance it loaded: the step to write, given the time now.
Decide = Callable[[Advance, datetime], Step]


# --- offers ----------------------------------------------------------------------------


async def quote(
    uow: AbstractFinancingUnitOfWork,
    clock: Clock,
    tenant_id: str,
    supplier_id: str,
    order_id: str,
    amount: int | None,
    actor: str,
    *,
    others_hidden: bool = False,
    before_commit: Callable[[Advance | AdvanceRefusal], None] | None = None,
    platform_data: PlatformData | None = None,
    arrival_horizon: timedelta = ARRIVAL_HORIZON,
) -> Advance:
    """Offer an advance on the order (the most available unless ``amount``), or refuse.

    An order that cannot be financed (unknown, another supplier's, an advance already live)
    is ``AdvanceRefusal`` with nothing committed. A sized refusal (limits, rate, minimum)
    commits a rejected advance, then raises ``AdvanceRefusal`` naming it; ``before_commit``
    sees the refusal then. With ``others_hidden`` (a key bound to ``supplier_id``) another
    supplier's order is refused as ``order_unknown``, like an order that does not exist.
    An order financing does not hold, which escrow may have created after the events
    financing has read (``domain/arrival.py``, within ``arrival_horizon``), is
    ``OrderNotYetKnown`` instead: retryable, nothing committed. An order paid out in another
    currency without a locked payout rate is ``FxRateNotLocked``, nothing committed.
    """
    data = platform_data or PlatformData()
    metadata = new_metadata(data.metadata)  # refused before anything is read
    async with uow:
        now = clock.now()
        found = await uow.orders.get(tenant_id, order_id)
        if found is None:
            read_up_to = await uow.escrow_progress.read_up_to(tenant_id)
            if arrival.may_be_on_its_way(order_id, read_up_to, now, arrival_horizon):
                raise OrderNotYetKnown(order_id, arrival.RETRY_AFTER_SECONDS)
        order = found[0] if found else None
        if others_hidden and order is not None and order.supplier_id != supplier_id:
            order = None
        live = await uow.advances.live_for_order(tenant_id, order_id)
        reasons = order_reasons(order, supplier_id, live is not None)
        if order is None or reasons:
            raise AdvanceRefusal(None, reasons)
        if fx_reasons(order):  # no locked rate to pay out in another currency at
            raise FxRateNotLocked(order.order_id, order.currency, order.pays_out_in)
        policy = await uow.policies.get(tenant_id, order.currency)
        exposure = await uow.advances.exposure(
            tenant_id, order.currency, supplier_id, order.buyer_id
        )
        outcome = size(order, policy, exposure, now, amount)
        opened, events = lifecycle.open_advance(
            f"adv_{new_event_id().hex}", order, supplier_id, outcome, policy, now,
            metadata=metadata, external_reference=data.external_reference,
        )  # fmt: skip
        advance = await write_step(uow, (opened, events), actor=actor, now=now, new=True)
        refusal = None
        if isinstance(outcome, Refusal):
            refusal = AdvanceRefusal(advance.advance_id, outcome.reasons)
        if before_commit is not None:
            before_commit(refusal or advance)
        await uow.commit()  # a refusal is recorded too
    if refusal is not None:
        raise refusal
    return advance


async def accept(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    supplier_id: str,
    advance_id: str,
    actor: str,
    before_commit: BeforeCommit | None = None,
) -> Advance:
    """The supplier takes the offer, if it is still open and still fits every limit: the
    lien is requested from escrow (the saga goes on in ``events.py``)."""
    return await retry_on_conflict(
        lambda: _accept(uows(), clock, tenant_id, supplier_id, advance_id, actor, before_commit)
    )


async def _accept(
    uow: AbstractFinancingUnitOfWork,
    clock: Clock,
    tenant_id: str,
    supplier_id: str,
    advance_id: str,
    actor: str,
    before_commit: BeforeCommit | None,
) -> Advance:
    async with uow:
        now = clock.now()
        # Locks in the order escrow's events take them: the order row, then its advance
        # (then the book). Advance first, a second acceptance deadlocked with lien_placed.
        seen = await _visible(uow, tenant_id, advance_id, supplier_id, lock=False)
        found = await uow.orders.get(tenant_id, seen.order_id)
        if found is None:
            raise OrderNotFound(seen.order_id)
        order = found[0]
        advance = await _visible(uow, tenant_id, advance_id, supplier_id)
        await uow.advances.lock_book(tenant_id, advance.currency)
        live = await uow.advances.live_for_order(tenant_id, advance.order_id)
        other_live = live is not None and live.advance_id != advance.advance_id
        reasons = order_reasons(order, supplier_id, other_live)
        if not reasons and advance.state == "offered" and now < advance.expires_at:
            policy = await uow.policies.get(tenant_id, order.currency)
            exposure = await uow.advances.exposure(
                tenant_id, order.currency, supplier_id, order.buyer_id
            )
            outcome = size(order, policy, exposure, now, advance.principal)
            reasons = list(outcome.reasons) if isinstance(outcome, Refusal) else []
        if reasons:
            raise AdvanceRefusal(advance.advance_id, reasons)
        step = lifecycle.accept(advance, now, actor)
        saved = await write_step(uow, step, actor=actor, now=now)
        if before_commit is not None:
            before_commit(saved)
        await uow.commit()
    return saved


# --- servicing and credit ------------------------------------------------------------


async def repay_early(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    supplier_id: str,
    advance_id: str,
    payment_id: str | None,
    actor: str,
    before_commit: BeforeCommit | None = None,
) -> Advance:
    """The supplier pays the advance off now; the unearned fee is rebated pro rata."""
    return await _on_advance(
        uows, clock, tenant_id, advance_id, supplier_id, actor, before_commit,
        lambda a, now: servicing.repay_early(a, now, actor, payment_id),
    )  # fmt: skip


async def mark_default(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    advance_id: str,
    reason: str,
    actor: str,
    before_commit: BeforeCommit | None = None,
) -> Advance:
    return await _on_advance(
        uows, clock, tenant_id, advance_id, None, actor, before_commit,
        lambda a, now: credit.mark_default(a, now, actor, reason),
    )  # fmt: skip


async def write_off(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    advance_id: str,
    reason: str,
    actor: str,
    before_commit: BeforeCommit | None = None,
) -> Advance:
    return await _on_advance(
        uows, clock, tenant_id, advance_id, None, actor, before_commit,
        lambda a, _now: credit.write_off(a, actor, reason),
    )  # fmt: skip


async def record_recovery(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    advance_id: str,
    amount: int,
    payment_id: str | None,
    actor: str,
    before_commit: BeforeCommit | None = None,
) -> Advance:
    return await _on_advance(
        uows, clock, tenant_id, advance_id, None, actor, before_commit,
        lambda a, _now: credit.record_recovery(a, amount, actor, payment_id),
    )  # fmt: skip


# --- reads -----------------------------------------------------------------------------


async def get_advance(
    uow: AbstractFinancingUnitOfWork, tenant_id: str, advance_id: str, supplier_id: str | None
) -> Advance:
    """The advance if the caller may see it (``supplier_id``: the supplier's only)."""
    async with uow:
        return await _visible(uow, tenant_id, advance_id, supplier_id, lock=False)


async def headroom(
    uow: AbstractFinancingUnitOfWork,
    tenant_id: str,
    order_id: str,
    supplier_id: str | None,
    *,
    others_hidden: bool = False,
) -> tuple[OrderView, Headroom]:
    """What can still be advanced on the order now (``sizing.headroom``), for its supplier
    (``supplier_id`` None: the order's own). Reads only, and locks nothing: no quote is
    made, nothing is recorded; the limits are checked again when an offer is accepted. An order financing does not hold, or
    another supplier's to a key bound to ``supplier_id`` (``others_hidden``), is
    ``OrderNotFound``."""
    async with uow:
        found = await uow.orders.get(tenant_id, order_id)
        order = found[0] if found else None
        if order is None or (others_hidden and order.supplier_id != supplier_id):
            raise OrderNotFound(order_id)
        supplier = supplier_id or order.supplier_id
        live = bool(await uow.advances.orders_with_live({(tenant_id, order_id)}))
        policy = await uow.policies.get(tenant_id, order.currency)
        exposure = await uow.advances.exposure(tenant_id, order.currency, supplier, order.buyer_id)
        blocked = order_reasons(order, supplier, live)
        return order, sizing.headroom(order, policy, exposure, blocked)


async def list_advances(
    uow: AbstractFinancingUnitOfWork,
    tenant_id: str,
    supplier_id: str | None,
    page: Page,
    external_reference: str | None = None,
) -> Window[Advance]:
    async with uow:
        return await uow.advances.list(tenant_id, page, supplier_id, external_reference)


@dataclass(frozen=True)
class PlatformData:
    """The platform's own data on an advance (shared/metadata.py): on a quote, what it
    starts with; on an update, metadata changes (merged, "" removes a key) and the
    external_reference (``clear_reference``: removed). None: left as it is."""

    metadata: Mapping[str, object] | None = None
    external_reference: str | None = None
    clear_reference: bool = False


async def update_advance(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    advance_id: str,
    supplier_id: str | None,
    changes: PlatformData,
    actor: str,
    before_commit: BeforeCommit | None = None,
) -> Advance:
    """Change the platform's own data on the advance, in any state (no event: the advance
    itself did not change)."""

    def update(advance: Advance, now: datetime) -> Step:
        metadata = advance.metadata
        if changes.metadata is not None:
            metadata = merge_metadata(advance.metadata, changes.metadata)
        reference = advance.external_reference
        if changes.clear_reference:
            reference = None
        elif changes.external_reference is not None:
            reference = changes.external_reference
        return replace(advance, metadata=metadata, external_reference=reference), []

    return await _on_advance(
        uows, clock, tenant_id, advance_id, supplier_id, actor, before_commit, update
    )


async def advance_statement(
    uow: AbstractFinancingUnitOfWork, tenant_id: str, advance_id: str, supplier_id: str | None
) -> Statement:
    """Disbursed, fees, repayments and balance, line by line, from the advance's history."""
    async with uow:
        advance = await _visible(uow, tenant_id, advance_id, supplier_id, lock=False)
        history = await uow.advances.history(advance_id)
    return build_statement(advance_id, advance.currency, history)


# --- policies --------------------------------------------------------------------------


async def get_policy(uow: AbstractFinancingUnitOfWork, tenant_id: str, currency: str) -> Policy:
    async with uow:
        return await uow.policies.get(tenant_id, currency)


async def set_policy(
    uow: AbstractFinancingUnitOfWork,
    tenant_id: str,
    policy: Policy,
    actor: str,
    before_commit: Callable[[Policy], None] | None = None,
) -> Policy:
    """The tenant's policy for its currency from now on (offers already made keep theirs)."""
    async with uow:
        await uow.policies.put(tenant_id, policy, actor)
        if before_commit is not None:
            before_commit(policy)
        await uow.commit()
    return policy


# --- shared by the commands ------------------------------------------------------------


async def _visible(
    uow: AbstractFinancingUnitOfWork,
    tenant_id: str,
    advance_id: str,
    supplier_id: str | None = None,
    *,
    lock: bool = True,
) -> Advance:
    """The tenant's advance (another tenant's, or another supplier's, is not found)."""
    advance = await uow.advances.get(advance_id, tenant_id=tenant_id, lock=lock)
    if advance is None or (supplier_id is not None and advance.supplier_id != supplier_id):
        raise AdvanceNotFound(advance_id)
    return advance


async def _on_advance(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    advance_id: str,
    supplier_id: str | None,
    actor: str,
    before_commit: BeforeCommit | None,
    decide: Decide,
) -> Advance:
    """Decide on the caller's advance (row-locked) and commit, re-deciding on a conflict."""

    async def run() -> Advance:
        async with uows() as uow:
            now = clock.now()
            advance = await _visible(uow, tenant_id, advance_id, supplier_id)
            saved = await write_step(uow, decide(advance, now), actor=actor, now=now)
            if before_commit is not None:
                before_commit(saved)
            await uow.commit()
        return saved

    return await retry_on_conflict(run)
