"""The escrow's use cases: one function per command (and query) an entrypoint issues.

Each takes a unit of work (a factory of them where it runs several, or re-runs on
``Conflict``), the ports it needs (clock, gateway) and plain arguments; it returns domain
results and raises domain errors (``domain/errors.py``) or the service layer's own
(``errors.py``). Nothing here knows HTTP.

A command on an existing order (``_on_order``) decides in a unit of work of its own,
re-deciding on a conflict, then settles inline what it reserved (``settlement.settle``),
each booking in a unit of work of its own. ``before_commit``, when given, sees the state
each of those units of work is about to commit, inside it: the HTTP entrypoint registers
there the answer that state gives (``shared.http.idempotency.answer``), so a retry after a
crash between two commits gets the state that committed last, never a second run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from services.escrow.domain import disputes, funding, milestones, ordering, payouts, refunds
from services.escrow.domain.errors import (
    EscrowError,
    FxError,
    FxQuoteMismatch,
    FxQuoteRequired,
    FxWireNotSupported,
    UnbookableRefund,
)
from services.escrow.domain.model import Escrow
from services.escrow.domain.rules import Decision, new_id
from services.escrow.domain.terms import DisputeTerms
from services.escrow.service_layer import fx as fx_cases
from services.escrow.service_layer import operations, stripe_events
from services.escrow.service_layer.decisions import (
    BeforeCommit,
    Decide,
    decide,
    pending_effects,
    write_decision,
)
from services.escrow.service_layer.errors import OrderNotFound
from services.escrow.service_layer.gateway import PaymentGateway
from services.escrow.service_layer.settlement import settle
from services.escrow.service_layer.unit_of_work import (
    AbstractEscrowUnitOfWork,
    FeeTerms,
    OrderFilter,
    TimelineRecord,
    UnitOfWorkFactory,
)
from shared.clock import Clock
from shared.events.escrow import DisputeOutcome, EvidenceKind
from shared.faults import crash_point
from shared.fx import FxConversion
from shared.pagination import Page, Window
from shared.unit_of_work import retry_on_conflict

log = structlog.get_logger(__name__)
WEBHOOK_ACTOR = "stripe:webhook"


@dataclass(frozen=True)
class Caller:
    """Who issues a command: the tenant, the actor the timeline names and, for a key bound
    to one supplier, that supplier (``party``): another supplier's order is not found."""

    tenant_id: str
    actor: str
    party: str | None = None

    def may_act_for(self, supplier_id: str) -> bool:
        return self.party is None or self.party == supplier_id


# --- orders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderTerms:
    """A new order's contract as the buyer's platform states it (fees come from the policy)."""

    buyer_id: str
    supplier_id: str
    supplier_account_id: str
    currency: str
    total: int
    milestones: Sequence[ordering.MilestoneSpec]
    metadata: Mapping[str, object] | None = None
    external_reference: str | None = None
    funding_currency: str | None = None  # None: the contract currency (docs/fx.md)
    payout_currency: str | None = None


@dataclass(frozen=True)
class PlatformData:
    """A PATCH of an order: metadata changes (merged, "" removes a key) and the
    external_reference (``clear_reference``: remove it). None: leave as it is."""

    metadata: Mapping[str, object] | None = None
    external_reference: str | None = None
    clear_reference: bool = False


async def create_order(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    caller: Caller,
    terms: OrderTerms,
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """The order with its escrow, on the tenant's fee and FX policies in force now."""
    async with uow:
        policies = await uow.new_order_policies(caller.tenant_id)
        fees = policies.fees
        spec = ordering.OrderSpec(
            tenant_id=caller.tenant_id,
            buyer_id=terms.buyer_id,
            supplier_id=terms.supplier_id,
            supplier_account_id=terms.supplier_account_id,
            currency=terms.currency,
            total=terms.total,
            milestones=terms.milestones,
            platform_fee_bps=fees.basis_points,
            platform_fee_fixed=fees.fixed_fees.get(terms.currency, 0),
            metadata=terms.metadata,
            external_reference=terms.external_reference,
            funding_currency=terms.funding_currency,
            payout_currency=terms.payout_currency,
            fx_policy=policies.fx.policy,
        )
        escrow, events = ordering.create_order(spec, clock.now())
        # copied, like fees
        escrow = escrow.model_copy(update={"dispute_terms": policies.disputes})
        saved = await write_decision(uow, clock, None, escrow, events, caller.actor)
        if before_commit is not None:
            before_commit(saved)
        await uow.commit()
    return saved


async def get_order(uow: AbstractEscrowUnitOfWork, caller: Caller, order_id: str) -> Escrow:
    """The order if the caller may see it; else ``OrderNotFound``."""
    async with uow:
        return await _visible(uow, caller, order_id)


async def update_order(
    uows: UnitOfWorkFactory,
    clock: Clock,
    caller: Caller,
    order_id: str,
    changes: PlatformData,
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """The platform's own data on its order changed (``ordering.update_platform_data``)."""

    def update(e: Escrow) -> Decision:
        if not caller.may_act_for(e.supplier_id):
            raise OrderNotFound(order_id)
        return ordering.update_platform_data(
            e, changes.metadata, changes.external_reference, clear_reference=changes.clear_reference
        )

    escrow, _ = await decide(
        uows, clock, order_id, caller.tenant_id, update, caller.actor, before_commit
    )
    return escrow


async def list_orders(
    uow: AbstractEscrowUnitOfWork, caller: Caller, flt: OrderFilter, page: Page
) -> Window[Escrow]:
    """The tenant's orders, newest first (``flt.supplier_id`` as the caller may name it)."""
    async with uow:
        return await uow.escrows.find(caller.tenant_id, flt, page)


async def order_timeline(
    uow: AbstractEscrowUnitOfWork, caller: Caller, order_id: str, page: Page
) -> Window[TimelineRecord]:
    """The order's events, oldest first, if the caller may see the order."""
    async with uow:
        await _visible(uow, caller, order_id)
        return await uow.escrows.timeline(caller.tenant_id, order_id, page)


async def cancel_order(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    reason: str,
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """Cancel, refunding what is held (settled inline)."""
    return await _on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: refunds.cancel_order(e, reason), before_commit,
    )  # fmt: skip


# --- funding ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FundingStarted:
    """A Stripe PaymentIntent for the buyer to pay, recorded as the order's pending payment.
    ``amount``/``currency``: what the PaymentIntent charges (the funding currency with a
    quote); ``credits``: the contract amount it credits; ``fx``: the locked conversion."""

    order_id: str
    payment_id: str
    amount: int
    currency: str
    stripe_payment_intent_id: str
    client_secret: str
    credits: int = 0
    fx: FxConversion | None = None
    payout_lock: FxConversion | None = None


async def start_funding(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    amount: int | None = None,
    before_commit: Callable[[FundingStarted], None] | None = None,
    quote_id: str | None = None,
    payout_quote_id: str | None = None,
) -> FundingStarted:
    """Reserve (check the order may take ``amount``, by default what is outstanding), ask
    Stripe for a PaymentIntent (``GatewayRefused``/``GatewayUnavailable`` propagate), then
    record the request and index its PaymentIntent in a second unit of work.

    An order funded in another currency than its contract's needs ``quote_id`` (a funding
    quote crediting exactly ``amount``): the PaymentIntent is then in the funding currency
    for the quote's ``from_amount``. Under the "order" policy with another payout currency,
    the payout conversion of the total is locked now (``payout_quote_id``, or the rate in
    force with the tenant's markup). Quotes are used before Stripe is called."""
    async with uows() as uow:
        escrow = await _visible(uow, caller, order_id)
    amount = amount if amount is not None else funding.outstanding(escrow)
    funding.check_new_funding(escrow, amount)
    fx: FxConversion | None = None
    # The quote is used by this attempt only (its payment): another funding of the order,
    # even a later one, is a reuse; every check is made before the quote is marked used.
    payment_id = new_id()
    used_by = f"order:{order_id}:funding:{payment_id}"
    if escrow.funding_ccy != escrow.currency:
        if quote_id is None:
            raise FxQuoteRequired(
                f"order {order_id} is funded in {escrow.funding_ccy}: fund it with a quote "
                f"{escrow.funding_ccy}->{escrow.currency} for {amount}"
            )
        await fx_cases.check_quote(
            uows, clock, caller.tenant_id, quote_id,
            side="funding", from_currency=escrow.funding_ccy, to_currency=escrow.currency,
            amount=amount, used_by=used_by,
        )  # fmt: skip
    elif quote_id is not None:
        raise FxQuoteMismatch(f"order {order_id} is funded in its contract currency")
    lock = await fx_cases.payout_lock_for(uows, clock, escrow, payout_quote_id, payment_id)
    if quote_id is not None:
        fx = await fx_cases.use_quote(
            uows, clock, caller.tenant_id, quote_id,
            side="funding", from_currency=escrow.funding_ccy, to_currency=escrow.currency,
            amount=amount, used_by=used_by,
        )  # fmt: skip
    metadata = {"order_id": order_id, "tenant_id": caller.tenant_id, "payment_id": payment_id}
    intent = await gateway.create_payment_intent(
        amount=fx.from_amount if fx is not None else amount,
        currency=fx.from_currency if fx is not None else escrow.currency,
        order_id=order_id,
        metadata=metadata,
        idempotency_key=f"escrow-fund-{payment_id}",
    )
    started = FundingStarted(
        order_id=order_id,
        payment_id=payment_id,
        amount=fx.from_amount if fx is not None else amount,
        currency=fx.from_currency if fx is not None else escrow.currency,
        stripe_payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        credits=amount,
        fx=fx,
        payout_lock=lock,
    )

    def record(e: Escrow) -> Decision:
        # One unit of work records the request and indexes its PaymentIntent.
        return funding.request_funding(e, payment_id, amount, intent.id, fx=fx, payout_lock=lock)

    def answering(_: Escrow) -> None:
        if before_commit is not None:
            before_commit(started)

    await _on_order(uows, clock, gateway, caller, order_id, record, answering)
    return started


async def confirm_wire(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    reference: str,
    amount: int,
    before_commit: BeforeCommit | None = None,
    currency: str | None = None,
) -> Escrow:
    """Finance saw an offline wire arrive: the order is funded by it (once per reference).
    A wire is in the contract currency only (``fx_wire_contract_currency_only``); under the
    "order" policy it locks the payout conversion at the rate in force, as a card funding."""
    payment_id = f"wire:{reference}"
    async with uows() as uow:
        escrow = await _visible(uow, caller, order_id)
    if currency is not None and currency != escrow.currency:
        raise FxWireNotSupported(
            f"a wire funds order {order_id} in its contract currency {escrow.currency} only"
        )
    lock = await fx_cases.payout_lock_for(uows, clock, escrow, None)

    def record(e: Escrow) -> Decision:
        funding.check_new_funding(e, amount)
        return funding.record_funding(e, payment_id, amount, "wire", clock.now(), payout_lock=lock)

    return await _on_order(uows, clock, gateway, caller, order_id, record, before_commit)


# --- milestones and disputes -----------------------------------------------------------


async def submit_evidence(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    kind: EvidenceKind,
    details: Mapping[str, object],
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    return await _on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: milestones.submit_evidence(
            e, milestone_id, kind, dict(details), caller.actor, clock.now()
        ),
        before_commit,
    )  # fmt: skip


def accept_and_release(
    e: Escrow, milestone_id: str, payout_fx: FxConversion | None = None
) -> Decision:
    """Acceptance releases at once; if the release cannot start, the acceptance stands."""
    accepted, events = milestones.accept_milestone(e, milestone_id)
    try:
        released, more = payouts.begin_release(accepted, milestone_id, payout_fx=payout_fx)
    except EscrowError:
        return accepted, events
    return released, events + more


async def accept_milestone(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """The buyer accepts the milestone, which releases it (paid out inline). Under the
    "milestone" FX policy the release converts at the rate in force (none: it waits for a
    release with a quote)."""
    payout_fx = await _milestone_payout_fx(uows, clock, caller, order_id, milestone_id, None)
    return await _on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: accept_and_release(e, milestone_id, payout_fx), before_commit,
    )  # fmt: skip


async def _milestone_payout_fx(
    uows: UnitOfWorkFactory,
    clock: Clock,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    quote_id: str | None,
) -> FxConversion | None:
    """The "milestone" policy's conversion of the release's supplier_net: ``quote_id``'s
    (used now), else the rate in force (None if there is none: the release then waits)."""
    async with uows() as uow:
        escrow = await _visible(uow, caller, order_id)
    if escrow.fx_policy != "milestone" or not escrow.converts_payouts:
        if quote_id is not None:
            raise FxQuoteMismatch(f"order {order_id} converts no release with a quote")
        return None
    net = payouts.release_split(escrow, milestone_id)
    if net <= 0:
        return None
    if quote_id is not None:
        return await fx_cases.use_quote(
            uows, clock, caller.tenant_id, quote_id,
            side="payout", from_currency=escrow.currency, to_currency=escrow.payout_ccy,
            amount=net, used_by=f"payout:{order_id}:{milestone_id}:{new_id()}",
        )  # fmt: skip
    try:
        return await fx_cases.current_conversion(
            uows, clock, caller.tenant_id, "payout", escrow.currency, escrow.payout_ccy, net
        )
    except FxError:
        return None


async def release_milestone(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    before_commit: BeforeCommit | None = None,
    quote_id: str | None = None,
) -> Escrow:
    """Release an accepted milestone whose earlier release attempt did not go through (or
    that waits for its conversion: ``quote_id``, a payout quote of its supplier_net, under
    the "milestone" FX policy)."""
    payout_fx = await _milestone_payout_fx(uows, clock, caller, order_id, milestone_id, quote_id)
    return await _on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: payouts.begin_release(e, milestone_id, payout_fx=payout_fx), before_commit,
    )  # fmt: skip


async def open_dispute(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    milestone_id: str,
    reason: str,
    evidence: Sequence[str],
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    return await _on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: disputes.open_dispute(e, milestone_id, reason, evidence, clock.now()),
        before_commit,
    )  # fmt: skip


async def resolve_dispute(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    dispute_id: str,
    outcome: DisputeOutcome,
    release_amount: int | None = None,
    before_commit: BeforeCommit | None = None,
) -> Escrow:
    """Finance decides a dispute: release, refund or split (settled inline)."""
    return await _on_order(
        uows, clock, gateway, caller, order_id,
        lambda e: disputes.resolve_dispute(e, dispute_id, outcome, release_amount, clock.now()),
        before_commit,
    )  # fmt: skip


# --- fee policy ------------------------------------------------------------------------


async def get_fee_policy(uow: AbstractEscrowUnitOfWork, tenant_id: str) -> FeeTerms:
    async with uow:
        return await uow.fee_policies.get(tenant_id)


async def set_fee_policy(
    uow: AbstractEscrowUnitOfWork, caller: Caller, terms: FeeTerms
) -> FeeTerms:
    """The tenant's policy from now on; existing orders keep the terms they were made on."""
    async with uow:
        await uow.fee_policies.set(caller.tenant_id, terms, caller.actor)
        await uow.commit()
    return terms


async def get_dispute_terms(uow: AbstractEscrowUnitOfWork, tenant_id: str) -> DisputeTerms:
    async with uow:
        return await uow.fee_policies.dispute_terms(tenant_id)


async def set_dispute_terms(
    uow: AbstractEscrowUnitOfWork, caller: Caller, terms: DisputeTerms
) -> DisputeTerms:
    """The tenant's dispute deadlines for orders created from now on; existing orders keep
    the deadlines they were made on."""
    async with uow:
        await uow.fee_policies.set_dispute_terms(caller.tenant_id, terms, caller.actor)
        await uow.commit()
    return terms


# --- Stripe's webhook events -----------------------------------------------------------


@dataclass(frozen=True)
class WebhookOutcome:
    """What became of a Stripe event: applied, a duplicate, or acknowledged unapplied
    (``error``: why: the money moved at Stripe anyway, so it is reported, not bounced)."""

    handled: bool | None = None
    duplicate: bool | None = None
    error: str | None = None


async def apply_stripe_event(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    event: stripe_events.StripeEvent,
) -> WebhookOutcome:
    """Claim the event id and apply its decision in one unit of work, re-run on a conflict,
    then settle inline what that decision reserved (the refund of a payment beyond the
    contract total, the releases a won chargeback frees), as a command does: Stripe's
    delivery is acknowledged once the money moved, not 30 s later by the settlement timer
    (which remains the fallback when Stripe cannot be reached now).

    The order is the one escrow indexed the PaymentIntent under when it created it; metadata
    naming another order or tenant is refused (``order_mismatch``), a PaymentIntent escrow
    did not create is ignored (``unknown_payment_intent``); both, like domain refusals,
    commit the claim and are reported. ``PaymentNotSucceeded`` propagates with nothing
    committed: Stripe delivers the event again later."""
    if event.type not in stripe_events.HANDLED:
        return WebhookOutcome(handled=False)
    outcome, saved, reserved = await retry_on_conflict(
        lambda: _apply_stripe_event(uows, clock, event)
    )
    if saved is not None and reserved:
        await settle(uows, clock, gateway, saved, reserved)
    return outcome


async def _apply_stripe_event(
    uows: UnitOfWorkFactory, clock: Clock, event: stripe_events.StripeEvent
) -> tuple[WebhookOutcome, Escrow | None, list[str]]:
    async with uows() as uow:
        if not await uow.stripe_events.claim(event.id, event.type):
            return WebhookOutcome(duplicate=True), None, []
        escrow, refusal = await _order_of(uow, event)
        try:
            if escrow is None:
                raise _NotApplied(refusal)
            after, events = stripe_events.decision_for(event, clock.now())(escrow)
            saved = await write_decision(uow, clock, escrow, after, events, WEBHOOK_ACTOR)
        except (_NotApplied, EscrowError) as exc:  # acknowledged: flag it, do not bounce it
            code = exc.code
            # Another integration's PaymentIntent on the same Stripe account is no news;
            # anything else is money that moved at Stripe and not here: finance must look.
            report = log.info if code == "unknown_payment_intent" else log.error
            report("escrow.webhook_refused", stripe_event=event.id, code=code, error=str(exc))
            if isinstance(exc, UnbookableRefund) and escrow is not None:
                # Money left Stripe that escrow cannot book: a record finance sees.
                await operations.record_unbooked_refund(uow, clock, escrow, event.id, exc)
            await uow.commit()  # the claim: the same event again is a duplicate
            return WebhookOutcome(handled=False, error=code), None, []
        await uow.commit()
    reserved = sorted(pending_effects(saved) - pending_effects(escrow))
    return WebhookOutcome(handled=True), saved, reserved


class _NotApplied(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def _order_of(
    uow: AbstractEscrowUnitOfWork, event: stripe_events.StripeEvent
) -> tuple[Escrow | None, str]:
    """The escrow whose PaymentIntent this is, unless the event's metadata says otherwise."""
    pi_id = stripe_events.payment_intent_of(event)
    orders = await uow.escrows.orders_of_payment_intent(pi_id) if pi_id else []
    if len(orders) != 1:
        return None, "unknown_payment_intent"
    escrow = await uow.escrows.get(orders[0])
    if escrow is None:
        return None, "unknown_payment_intent"
    meta = event.object.metadata if event.object is not None else {}
    named = meta.get("order_id", escrow.order_id), meta.get("tenant_id", escrow.tenant_id)
    if named != (escrow.order_id, escrow.tenant_id):
        return None, "order_mismatch"
    return escrow, ""


# --- shared by the commands ------------------------------------------------------------


async def _visible(uow: AbstractEscrowUnitOfWork, caller: Caller, order_id: str) -> Escrow:
    """The order if the caller may see it; another tenant's or supplier's is not found."""
    escrow = await uow.escrows.get(order_id, caller.tenant_id)
    if escrow is None or not caller.may_act_for(escrow.supplier_id):
        raise OrderNotFound(order_id)
    return escrow


async def _on_order(
    uows: UnitOfWorkFactory,
    clock: Clock,
    gateway: PaymentGateway,
    caller: Caller,
    order_id: str,
    command: Decide,
    before_commit: BeforeCommit | None,
) -> Escrow:
    """Decide ``command`` on the caller's order and commit, then settle what it reserved."""

    def visible(e: Escrow) -> Decision:
        # Checked on the state the command decides on, inside its unit of work.
        if not caller.may_act_for(e.supplier_id):
            raise OrderNotFound(order_id)
        return command(e)

    escrow, reserved = await decide(
        uows, clock, order_id, caller.tenant_id, visible, caller.actor, before_commit
    )
    crash_point("escrow.before_settlement")
    return await settle(uows, clock, gateway, escrow, reserved, before_commit)


# The one path of every command on an existing order, for the use cases of the other
# modules (negotiations.py, returns.py).
on_order = _on_order
visible_order = _visible
