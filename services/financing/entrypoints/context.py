"""What the entrypoints share: their dependencies, and how a domain step is persisted.

``persist`` is the one place a step (new advance state + events) reaches the database: the
advance row (optimistic version check), the events (outbox + history, with the actor) and
the durable timers the new state needs, all in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.advances import AdvanceRepository
from services.financing.adapters.publisher import Publisher
from services.financing.adapters.stripe_gateway import TransferGateway
from services.financing.domain.advance import OFFERED, Advance, Step
from services.financing.domain.servicing import days_elapsed, next_amortization_at
from shared.clock import Clock
from shared.events.envelope import Envelope
from shared.timers import schedule

OFFER_EXPIRY = "financing.offer_expiry"
FEE_AMORTIZATION = "financing.fee_amortization"


@dataclass(frozen=True)
class Deps:
    publisher: Publisher
    clock: Clock
    gateway: TransferGateway


async def persist(
    conn: AsyncConnection,
    deps: Deps,
    step: Step,
    *,
    actor: str,
    now: datetime,
    cause: Envelope | None = None,
    new: bool = False,
) -> Advance:
    advance, events = step
    repo = AdvanceRepository(conn)
    saved = await (repo.add(advance) if new else repo.save(advance))
    await deps.publisher.emit(conn, saved, events, actor=actor, now=now, cause=cause)
    await schedule_timers(conn, saved, now)
    return saved


async def schedule_timers(conn: AsyncConnection, advance: Advance, now: datetime) -> None:
    if advance.state == OFFERED:
        await schedule(conn, OFFER_EXPIRY, advance.advance_id, advance.expires_at)
    due = next_amortization_at(advance, now)
    if due is not None:
        # One timer per day: a fired timer row is final, so each day gets its own key.
        day = days_elapsed(advance, now) + 1
        await schedule(conn, FEE_AMORTIZATION, f"{advance.advance_id}:{day}", due)
