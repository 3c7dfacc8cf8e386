"""Which drafts of a batch the journal takes, and as what: the rules the posting engine
applies under the books' locks (``service_layer/posting.py``), on facts it read there.

- A draft whose source event is in the journal already, or earlier in the same batch, is a
  duplicate: skipped, never posted twice (every posting is idempotent on its source).
- A draft that reverses a transaction reversed already is refused (``NotReversible``):
  checked under the lock, so of two concurrent reversals only the first commits.
- A draft dated inside a closed period is re-dated (a late event) or refused (staff), see
  ``periods.into_open_period``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from services.ledger.domain.journal import JournalDraft
from services.ledger.domain.periods import into_open_period
from services.ledger.domain.staff import NotReversible


def admit(
    drafts: Sequence[JournalDraft],
    *,
    known: Collection[UUID],
    closes: Mapping[str, datetime],
    reversed_already: Collection[UUID],
) -> list[JournalDraft]:
    """The drafts to append, in batch order. ``known``: the source events the journal has;
    ``closes``: each tenant's closed-through moment; ``reversed_already``: transactions a
    reversal in the journal reverses."""
    if reversed_already and any(d.reverses in reversed_already for d in drafts):
        raise NotReversible("this transaction has been reversed already")
    fresh: list[JournalDraft] = []
    taken = set(known)
    for draft in drafts:
        if draft.source_event_id in taken:
            continue
        taken.add(draft.source_event_id)
        upto = closes.get(draft.tenant_id)
        if upto is not None and draft.posted_at < upto:
            draft = into_open_period(draft, upto)
        fresh.append(draft)
    return fresh
