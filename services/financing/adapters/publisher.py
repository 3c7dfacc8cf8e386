"""Emitting an advance's events: envelope, outbox and history row, in the caller's transaction.

Every financing event is keyed by the ORDER id (envelope subject = Kafka key): the lien
commands must stay ordered with escrow's view of the order, and since an order carries at
most one live advance, keying everything by order keeps each advance's events in order too.
The history row records the actor of every change and feeds the advance's statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.tables import advance_history
from services.financing.domain.advance import Advance
from shared.events.envelope import Envelope, new_event_id
from shared.events.registry import EventModel
from shared.outbox import add_to_outbox

SOURCE = "financing"


@dataclass(frozen=True)
class Publisher:
    topic: str

    async def emit(
        self,
        conn: AsyncConnection,
        advance: Advance,
        events: list[EventModel],
        *,
        actor: str,
        now: datetime,
        cause: Envelope | None = None,
    ) -> list[Envelope]:
        if not events:
            return []
        # One command or event starts one conversation: all its events share a correlation.
        causal = cause.caused() if cause is not None else {"correlation_id": new_event_id()}
        envelopes = [
            Envelope.wrap(
                event,
                source=SOURCE,
                tenant_id=advance.tenant_id,
                subject=advance.order_id,
                occurred_at=now,
                **causal,
            )
            for event in events
        ]
        await add_to_outbox(conn, self.topic, *envelopes)
        await conn.execute(
            advance_history.insert(),
            [
                {
                    "advance_id": advance.advance_id,
                    "tenant_id": advance.tenant_id,
                    "event_id": env.id,
                    "event_type": env.type,
                    "at": now,
                    "actor": getattr(event, "actor", None) or actor,
                    "data": env.data,
                }
                for env, event in zip(envelopes, events, strict=True)
            ],
        )
        return envelopes
