"""The ledger's consumer: every escrow and financing event, posted in batches.

The shared ``InboxConsumer`` hands a whole Kafka batch to ``post_events`` inside one database
transaction (after deduplicating it through the inbox), so a batch of thousands of events is
one lock per book, one COPY of journal rows and one COPY of postings. An event that cannot be
posted (invalid, unbalanced) is a ``PermanentFailure``: it is left out of the batch, with its
subject's later events, and named to the consumer, which dead-letters it and parks the subject
while the rest of the batch is posted.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.escrow_held import HeldReport, record_held
from services.ledger.adapters.posting import driver, post_batch
from services.ledger.domain.journal import JournalDraft
from services.ledger.domain.rules import draft_for
from shared.events import Envelope
from shared.inbox import Failures, PermanentFailure
from shared.money import MoneyError

CONSUMER_NAME = "ledger-postings"


def _plan(
    envelopes: Sequence[Envelope], failed: dict[UUID, Exception] | None = None
) -> tuple[list[JournalDraft], list[HeldReport]]:
    """The batch's drafts and held reports. An event that cannot be posted raises, or, given
    ``failed``, is recorded there and its subject's later events are left out too."""
    drafts: list[JournalDraft] = []
    reports: list[HeldReport] = []
    stopped: set[str] = set()
    for env in envelopes:
        if env.subject in stopped:
            continue
        try:
            try:
                payload = env.payload()
                draft = draft_for(env, payload)
            except (ValueError, MoneyError) as exc:  # includes pydantic's ValidationError
                raise PermanentFailure(f"{env.type} {env.id} cannot be posted: {exc}") from exc
        except (PermanentFailure, LookupError) as exc:  # LookupError: an unknown event type
            if failed is None:
                raise
            failed[env.id] = exc
            stopped.add(env.subject)
            continue
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


async def post_events(conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
    """The batch handler: posts what can be posted, returns the events that cannot."""
    failed: dict[UUID, Exception] = {}
    drafts, reports = _plan(envelopes, failed)
    await post_batch(conn, drafts)
    await record_held(await driver(conn), reports)
    return failed


async def post_event(conn: AsyncConnection, envelope: Envelope) -> None:
    for error in (await post_events(conn, [envelope])).values():
        raise error
