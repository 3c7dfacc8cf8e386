"""The ledger's consumer: every escrow and financing event, posted in batches.

The shared ``InboxConsumer`` hands a whole Kafka batch to ``post_events`` inside one database
transaction (after deduplicating it through the inbox), so a batch of thousands of events is
one chain-lock wait, one COPY of journal rows and one COPY of postings. An event that cannot
be posted (invalid, unbalanced) is a ``PermanentFailure``: the consumer then retries the batch
event by event and parks just that one on the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.escrow_held import HeldReport, record_held
from services.ledger.adapters.posting import driver, post_batch
from services.ledger.domain.journal import JournalDraft
from services.ledger.domain.rules import draft_for
from shared.events import Envelope
from shared.inbox import PermanentFailure
from shared.money import MoneyError

CONSUMER_NAME = "ledger-postings"


def _plan(envelopes: Sequence[Envelope]) -> tuple[list[JournalDraft], list[HeldReport]]:
    drafts: list[JournalDraft] = []
    reports: list[HeldReport] = []
    for env in envelopes:
        try:
            payload = env.payload()
            draft = draft_for(env, payload)
        except (ValueError, MoneyError) as exc:  # includes pydantic's ValidationError
            raise PermanentFailure(f"{env.type} {env.id} cannot be posted: {exc}") from exc
        if draft is not None:
            drafts.append(draft)
        held = getattr(payload, "held_after", None)
        order_id = getattr(payload, "order_id", None)
        if env.type.startswith("escrow.") and isinstance(held, int) and order_id:
            currency = str(getattr(payload, "currency", ""))
            reports.append(
                HeldReport(env.tenant_id, order_id, currency, held, env.occurred_at, env.id)
            )
    return drafts, reports


async def post_events(conn: AsyncConnection, envelopes: Sequence[Envelope]) -> None:
    drafts, reports = _plan(envelopes)
    await post_batch(conn, drafts)
    await record_held(await driver(conn), reports)


async def post_event(conn: AsyncConnection, envelope: Envelope) -> None:
    await post_events(conn, [envelope])
