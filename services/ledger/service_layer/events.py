"""Every escrow and financing event, posted in batches: the ledger's hot ingest path.

``post_events`` stages a whole consumed batch in one unit of work (the consumer's
transaction, ``LedgerUnitOfWork.joining``): the batch's drafts go through one
``posting.post`` (one lock per book, one COPY of journal rows and one of postings) and its
held reports through one upsert, so a batch of thousands of events costs a handful of
statements. An event that cannot be posted (invalid, unbalanced, of a type with no rule) is
a ``PermanentFailure``: it is left out, with its subject's later events, and returned
among the failures, which the consumer dead-letters while the rest is posted.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from services.ledger.domain.journal import JournalDraft
from services.ledger.domain.recon import HeldReport
from services.ledger.domain.rules import draft_for
from services.ledger.service_layer.posting import post
from services.ledger.service_layer.unit_of_work import AbstractLedgerUnitOfWork
from shared.events import Envelope
from shared.inbox import PermanentFailure
from shared.money import MoneyError


def plan(
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


async def post_events(
    uow: AbstractLedgerUnitOfWork, envelopes: Sequence[Envelope]
) -> dict[UUID, Exception]:
    """Stage the postings of what can be posted in ``uow`` (the caller commits); the events
    that cannot be, by id."""
    failed: dict[UUID, Exception] = {}
    drafts, reports = plan(envelopes, failed)
    await post(uow, drafts)
    await uow.held_reports.record(reports)
    return failed
