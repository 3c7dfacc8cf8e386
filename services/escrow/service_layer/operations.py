"""Operations records for finance (``alerts.py``): a refund Stripe keeps refusing, and a
refund made outside Tradeflow that escrow could not book. Each is raised once as an event
(``escrow.refund_stuck``, ``escrow.external_refund_unbooked``; the ledger posts neither,
they move no money in escrow) and listed by the finance-scope ``/v1/operations`` routes.

Why escrow keeps the break rather than the ledger: the ledger's breaks are the result of
reconciling Stripe clearing against Stripe's balance transactions, and that run will find
the unbooked refund on its own, as a Stripe line with nothing booked against it. What only
escrow knows is which order it hit and why it could not be booked; that is this record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from typing import Literal
from uuid import NAMESPACE_URL, uuid5

import structlog

from services.escrow.domain.errors import EscrowError, UnbookableRefund
from services.escrow.domain.model import Escrow
from services.escrow.domain.refunds import return_offline
from services.escrow.service_layer.alerts import (
    ParkedDeadline,
    RefundBreak,
    Resolution,
    StuckRefund,
)
from services.escrow.service_layer.causes import Cause
from services.escrow.service_layer.decisions import envelopes, write_decision
from services.escrow.service_layer.unit_of_work import (
    AbstractEscrowUnitOfWork,
    UnitOfWorkFactory,
)
from shared.clock import Clock
from shared.events import EventModel
from shared.events.escrow import (
    DeadlineParked,
    ExternalRefundUnbooked,
    RefundAbandoned,
    RefundBreakResolved,
    RefundStuck,
)
from shared.unit_of_work import retry_on_conflict

log = structlog.get_logger(__name__)
SETTLEMENT_ACTOR = "system:settlement"
DEADLINE_ACTOR = "system:deadline"
WEBHOOK_ACTOR = "stripe:webhook"
MAX_ERROR = 2_000  # characters of Stripe's message kept


def alert_id(kind: str, *key: str) -> str:
    """The id of the one alert of ``kind`` about ``key`` (also its event's envelope id)."""
    return str(uuid5(NAMESPACE_URL, f"tradeflow-escrow:{kind}:{'/'.join(key)}"))


async def _raise(
    uow: AbstractEscrowUnitOfWork,
    now: datetime,
    escrow: Escrow,
    event: EventModel,
    actor: str,
    cause: Cause | None = None,
) -> None:
    envs = envelopes(now, escrow, [event], cause)
    await uow.outbox.add(*envs)
    await uow.escrows.record_timeline(escrow, envs, actor)


async def refund_refused(
    uows: UnitOfWorkFactory,
    clock: Clock,
    order_id: str,
    refund_id: str,
    error: str,
    stuck_after: int,
    cause: Cause | None = None,
) -> StuckRefund | None:
    """The settlement timer's attempt at a reserved refund was refused by Stripe: count it,
    in a unit of work of its own (the timer's is rolled back, to retry the refund later
    under the same key), and at ``stuck_after`` refusals raise ``escrow.refund_stuck``
    once, in the refund's conversation (``cause``: the reserving decision's). None when the
    refund is no longer pending (nothing to count)."""
    async with uows() as uow:
        escrow = await uow.escrows.get(order_id)
        refund = next(
            (r for r in escrow.refunds if r.refund_id == refund_id and r.status == "pending"),
            None,
        ) if escrow is not None else None  # fmt: skip
        if escrow is None or refund is None:
            return None
        now = clock.now()
        first = StuckRefund(
            refund_id=refund_id,
            tenant_id=escrow.tenant_id,
            order_id=order_id,
            payment_id=refund.payment_id,
            amount=refund.amount,
            currency=escrow.currency,
            attempts=1,
            last_error=error[:MAX_ERROR],
            first_refused_at=now,
            last_refused_at=now,
        )
        record = await uow.refund_alerts.refused(first)
        if record.attempts >= stuck_after and record.alerted_at is None:
            await uow.refund_alerts.alerted(refund_id, now)
            stuck = RefundStuck(
                order_id=order_id,
                alert_id=alert_id("refund_stuck", refund_id),
                refund_id=refund_id,
                payment_id=refund.payment_id,
                amount=refund.amount,
                currency=escrow.currency,
                attempts=record.attempts,
                last_error=record.last_error,
            )
            await _raise(uow, now, escrow, stuck, SETTLEMENT_ACTOR, cause)
            log.error("escrow.refund_stuck", order_id=order_id, refund_id=refund_id,
                      attempts=record.attempts, error=record.last_error)  # fmt: skip
        await uow.commit()
    return record


async def record_unbooked_refund(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    escrow: Escrow,
    stripe_event_id: str,
    refused: UnbookableRefund,
) -> None:
    """In the webhook's unit of work (the caller commits, with the event's claim): the break
    and, the first time this Stripe refund is reported, ``escrow.external_refund_unbooked``."""
    now = clock.now()
    found = RefundBreak(
        tenant_id=escrow.tenant_id,
        order_id=escrow.order_id,
        stripe_refund_id=refused.stripe_refund_id,
        payment_id=refused.payment_id,
        stripe_event_id=stripe_event_id,
        amount=refused.amount,
        currency=refused.currency or escrow.currency,
        bookable=refused.bookable,
        reason=refused.code,
        detected_at=now,
    )
    if not await uow.refund_alerts.add_break(found):
        return
    unbooked = ExternalRefundUnbooked(
        order_id=escrow.order_id,
        alert_id=alert_id("refund_break", escrow.tenant_id, refused.stripe_refund_id),
        stripe_refund_id=refused.stripe_refund_id,
        stripe_event_id=stripe_event_id,
        payment_id=refused.payment_id,
        amount=refused.amount,
        currency=refused.currency or escrow.currency,
        bookable=refused.bookable,
        reason="invalid_amount" if refused.code == "invalid_amount" else "insufficient_funds",
    )
    await _raise(uow, now, escrow, unbooked, WEBHOOK_ACTOR)


async def deadline_refused(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    order_id: str,
    what: str,
    subject: str,
    due_at: datetime,
    attempts: int,
    max_attempts: int,
    refused: EscrowError,
    cause: Cause | None = None,
) -> bool:
    """A deadline's action was refused at its ``attempts``-th firing (counting this one).
    Below ``max_attempts``: False, the timer retries with backoff. At it: the deadline is
    parked for finance and ``escrow.deadline_parked`` raised, once; True, the timer is done
    (a retry for ever would only re-raise the same refusal). In the timer's unit of work
    (the caller commits, with the timer marked fired)."""
    if attempts < max_attempts:
        return False
    escrow = await uow.escrows.get(order_id)
    if escrow is None:
        return True
    now = clock.now()
    parked = ParkedDeadline(
        tenant_id=escrow.tenant_id,
        order_id=order_id,
        what=what,
        subject=subject,
        due_at=due_at,
        attempts=attempts,
        error_code=refused.code,
        last_error=refused.message[:MAX_ERROR],
        parked_at=now,
    )
    if await uow.refund_alerts.park_deadline(parked):
        event = DeadlineParked(
            order_id=order_id,
            alert_id=alert_id("deadline_parked", order_id, what, subject, due_at.isoformat()),
            what=what,
            subject=subject,
            due_at=due_at,
            attempts=attempts,
            error_code=refused.code,
            last_error=parked.last_error,
        )
        await _raise(uow, now, escrow, event, DEADLINE_ACTOR, cause)
        log.error("escrow.deadline_parked", order_id=order_id, what=what, subject=subject,
                  attempts=attempts, error=refused.code)  # fmt: skip
    return True


async def parked_deadlines(
    uow: AbstractEscrowUnitOfWork, tenant_id: str, limit: int
) -> list[ParkedDeadline]:
    async with uow:
        return await uow.refund_alerts.parked_deadlines(tenant_id, limit)


async def stuck_refunds(
    uow: AbstractEscrowUnitOfWork, tenant_id: str, limit: int
) -> list[StuckRefund]:
    async with uow:
        return await uow.refund_alerts.stuck(tenant_id, limit)


async def refund_breaks(
    uow: AbstractEscrowUnitOfWork, tenant_id: str, limit: int, status: str | None = None
) -> list[RefundBreak]:
    async with uow:
        return await uow.refund_alerts.breaks(tenant_id, limit, status)


class StuckRefundNotFound(Exception):
    """No refund of this tenant is alerted as stuck and still pending (or it was abandoned)."""

    code = "stuck_refund_not_found"


class RefundBreakNotFound(Exception):
    """No open refund break of this tenant for this Stripe refund."""

    code = "refund_break_not_found"


async def abandon_stuck_refund(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    actor: str,
    refund_id: str,
    resolution: Literal["returned_offline"],
    note: str,
    before_commit: Callable[[StuckRefund], object] | None = None,
) -> StuckRefund:
    """Finance gives up a refund Stripe keeps refusing: the money went back another way
    (``returned_offline``), so the refund is booked without Stripe (``escrow.refunded``,
    the settlement timer cancelled by the decision), and ``escrow.refund_abandoned`` and the
    record's resolution (who, when, why) are written in the same transaction. Only a
    refund alerted as stuck and still pending; once."""

    async def attempt() -> StuckRefund:
        async with uows() as uow:
            stuck = await uow.refund_alerts.stuck_refund(tenant_id, refund_id)
            escrow = await uow.escrows.get(stuck.order_id, tenant_id) if stuck else None
            pending = escrow is not None and any(
                r.refund_id == refund_id and r.status == "pending" for r in escrow.refunds
            )
            if stuck is None or escrow is None or stuck.alerted_at is None or not pending:
                raise StuckRefundNotFound(refund_id)
            now = clock.now()
            after, events = return_offline(escrow, refund_id)
            answer = Resolution(resolution, actor, now, note)
            abandoned = RefundAbandoned(
                order_id=escrow.order_id,
                alert_id=alert_id("refund_abandoned", refund_id),
                refund_id=refund_id,
                amount=stuck.amount,
                currency=escrow.currency,
                resolution=resolution,
                by=actor,
                note=note,
            )
            await write_decision(uow, clock, escrow, after, [*events, abandoned], actor)
            await uow.refund_alerts.resolve_stuck(refund_id, answer)
            done = replace(stuck, **asdict(answer))
            if before_commit is not None:
                before_commit(done)
            await uow.commit()
        log.warning("escrow.refund_abandoned", order_id=escrow.order_id, refund_id=refund_id,
                    resolution=resolution, by=actor)  # fmt: skip
        return done

    return await retry_on_conflict(attempt)


async def resolve_refund_break(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    actor: str,
    stripe_refund_id: str,
    resolution: Literal["booked_in_ledger", "recovered", "written_off"],
    note: str,
    before_commit: Callable[[RefundBreak], object] | None = None,
) -> RefundBreak:
    """Finance worked a refund break: its resolution (who, when, why) recorded and
    ``escrow.refund_break_resolved`` raised, once. Escrow's books do not change."""
    async with uows() as uow:
        found = await uow.refund_alerts.refund_break(tenant_id, stripe_refund_id)
        if found is None or found.resolved_at is not None:
            raise RefundBreakNotFound(stripe_refund_id)
        escrow = await uow.escrows.get(found.order_id, tenant_id)
        if escrow is None:
            raise RefundBreakNotFound(stripe_refund_id)
        now = clock.now()
        answer = Resolution(resolution, actor, now, note)
        await uow.refund_alerts.resolve_break(tenant_id, stripe_refund_id, answer)
        resolved = RefundBreakResolved(
            order_id=found.order_id,
            alert_id=alert_id("refund_break_resolved", tenant_id, stripe_refund_id),
            stripe_refund_id=stripe_refund_id,
            amount=found.amount,
            currency=found.currency,
            resolution=resolution,
            by=actor,
            note=note,
        )
        await _raise(uow, now, escrow, resolved, actor)
        done = replace(found, **asdict(answer))
        if before_commit is not None:
            before_commit(done)
        await uow.commit()
    return done
