"""Staff postings: adjustments (with actor and reason) and reversals, the only way to correct."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from services.ledger.domain.journal import JournalDraft, Line, reversal_lines
from shared.events import new_event_id


class InvalidAdjustment(ValueError):
    pass


def adjustment(
    *,
    tenant_id: str,
    actor: str,
    reason: str,
    memo: str,
    posted_at: datetime,
    lines: Sequence[Line],
) -> JournalDraft:
    if not reason.strip():
        raise InvalidAdjustment("an adjustment needs a reason")
    draft_id = new_event_id()
    return JournalDraft(
        id=draft_id,
        tenant_id=tenant_id,
        posted_at=posted_at,
        source_event_id=draft_id,  # a staff posting is its own source
        source_type="ledger.adjustment",
        memo=memo,
        lines=tuple(lines),
        kind="adjustment",
        actor=actor,
        reason=reason,
    )


def reversal(
    *,
    tenant_id: str,
    original_id: UUID,
    original_lines: Sequence[Line],
    actor: str,
    reason: str,
    posted_at: datetime,
) -> JournalDraft:
    """The mirror image of a posted transaction, dated ``posted_at`` (normally now)."""
    if not reason.strip():
        raise InvalidAdjustment("a reversal needs a reason")
    draft_id = new_event_id()
    return JournalDraft(
        id=draft_id,
        tenant_id=tenant_id,
        posted_at=posted_at,
        source_event_id=draft_id,
        source_type="ledger.reversal",
        memo=f"reversal of {original_id}",
        lines=reversal_lines(original_lines),
        kind="reversal",
        actor=actor,
        reason=reason,
        reverses=original_id,
    )
