"""Committing the decisions of a whole consumer batch at once (financing's lien commands).

``commit_decisions`` writes what ``unit.commit_decision`` writes for each decision (the
escrow, version-checked; its events in the outbox; its timeline), in three statements for
the whole batch instead of a handful per command. It takes only decisions that move no
money: they reserve no payout or refund, index no PaymentIntent and start no inspection,
so they have no timers to cancel or schedule (lien decisions are such); it refuses others,
which go through ``commit_decision`` one at a time.

The escrows must have been row-locked by ``repository.lock`` in the same transaction: then
no request can write them in between, and a request that read one before waits for the
batch, then loses its version check and decides again on the new state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters import repository
from services.escrow.domain.model import Escrow
from services.escrow.service_layer.causes import Cause
from services.escrow.service_layer.context import EscrowContext
from services.escrow.service_layer.unit import (
    caused_by,
    envelopes,
    payment_intents,
    pending_effects,
)
from shared.events import Envelope, EventModel
from shared.events.escrow import InspectionStarted
from shared.outbox import add_to_outbox


@dataclass
class Decided:
    """One escrow's decisions of the batch: its state before and after them, and each event
    with the command that caused it."""

    before: Escrow
    after: Escrow
    events: list[tuple[EventModel, Envelope]] = field(default_factory=list)

    def moves_money(self) -> bool:
        return (
            pending_effects(self.after) != pending_effects(self.before)
            or payment_intents(self.after) != payment_intents(self.before)
            or any(isinstance(e, InspectionStarted) for e, _ in self.events)
        )


async def commit_decisions(
    conn: AsyncConnection,
    ctx: EscrowContext,
    decided: Sequence[Decided],
    actor: str,
    replies: Sequence[Envelope] = (),
) -> None:
    """Save the changed escrows, stage their events (and ``replies``, events about no escrow)
    in the outbox and record their timelines, in the caller's transaction."""
    changed = [d for d in decided if d.after != d.before or d.events]
    if any(d.moves_money() for d in changed):
        raise ValueError("commit_decisions takes decisions that move no money")
    saved = await repository.save_all(conn, [d.after for d in changed], ctx.clock.now())
    entries = [
        (
            escrow,
            [
                env
                for event, cause in d.events
                for env in envelopes(ctx, escrow, [event], Cause.of(cause))
            ],
        )
        for escrow, d in zip(saved, changed, strict=True)
    ]
    await add_to_outbox(conn, ctx.topic, *[e for _, envs in entries for e in envs], *replies)
    actors = {k: v for escrow, envs in entries for k, v in caused_by(escrow, envs).items()}
    await repository.record_timelines(conn, entries, actor, actors)
