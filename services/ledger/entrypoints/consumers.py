"""Every escrow and financing event, consumed from their topics and posted once via the inbox.

The shared ``InboxConsumer`` hands a whole Kafka batch to ``post_events`` inside one
database transaction (after deduplicating it through the inbox); its use case
(``service_layer.events.post_events``) runs in ``LedgerUnitOfWork.joining`` that
transaction and names the events it could not post, which the consumer dead-letters (and
parks their subjects) while the rest of the batch is posted. A single event
(``post_event``) is a batch of one that raises what failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.service_layer import events
from services.ledger.service_layer.unit_of_work import NO_EVENTS, LedgerUnitOfWork
from shared.events import Envelope
from shared.inbox import Failures

CONSUMER_NAME = "ledger-postings"


async def post_events(conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
    """The batch handler: posts what can be posted, returns the events that cannot."""
    async with LedgerUnitOfWork.joining(conn, NO_EVENTS) as uow:
        failed = await events.post_events(uow, envelopes)
        await uow.commit()
    return failed


async def post_event(conn: AsyncConnection, envelope: Envelope) -> None:
    for error in (await post_events(conn, [envelope])).values():
        raise error
