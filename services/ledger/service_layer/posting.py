"""Posting a batch of drafts: the one path every journal write takes (events and staff).

In the unit of work's transaction, in this order: lock the books of the batch's tenants
(in tenant order, held to commit: appends to one book are serialised, two batches cannot
deadlock), read what admission needs (source events already posted, each tenant's close,
reversals already made), let the domain admit (``domain/admission.py``), append what it
admitted. A batch of thousands of events costs the same handful of statements as a batch
of one (see docs/performance.md): nothing here is per draft but Python.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.ledger.domain.admission import admit
from services.ledger.domain.journal import JournalDraft, Posted
from services.ledger.service_layer.unit_of_work import AbstractLedgerUnitOfWork


async def post(uow: AbstractLedgerUnitOfWork, drafts: Sequence[JournalDraft]) -> list[Posted]:
    """Append ``drafts`` (in order); one ``Posted`` per draft, ``duplicate`` for a source
    event posted before. Refusals (``NotReversible``, ``ClosedPeriod``) stage nothing."""
    if not drafts:
        return []
    tenants = {d.tenant_id for d in drafts}
    heads = await uow.journal.lock_books(tenants)
    done = {
        p.source_event_id: p for p in await uow.journal.known([d.source_event_id for d in drafts])
    }
    closes = await uow.journal.closed_through(sorted(tenants))
    reversing = [d.reverses for d in drafts if d.reverses is not None]
    reversed_already = await uow.journal.reversed_among(reversing) if reversing else set()
    fresh = admit(drafts, known=done, closes=closes, reversed_already=reversed_already)
    if fresh:
        for p in await uow.journal.append(fresh, heads):
            done[p.source_event_id] = p
    return [done[d.source_event_id] for d in drafts]
