"""Staff postings: adjustments (with actor and reason) and reversals, the only way to correct.

A transaction is reversed at most once, and a reversal is never reversed itself
(``check_reversible``; the posting engine checks it again under the book's lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.ledger.domain.chart import UnknownAccount
from services.ledger.domain.journal import JournalDraft, Line, UnbalancedTransaction, reversal_lines
from shared.events import new_event_id
from shared.money import MoneyError


class InvalidAdjustment(ValueError):
    pass


class NotReversible(Exception):
    """A reversal of a transaction reversed already, or of a reversal."""


@dataclass(frozen=True, slots=True)
class StaffLine:
    """One line of a staff adjustment as finance states it: one side, above zero."""

    account: str
    currency: str
    debit: int = 0
    credit: int = 0
    subledger: str = ""
    external_ref: str | None = None


def staff_adjustment(
    *,
    tenant_id: str,
    actor: str,
    reason: str,
    memo: str,
    posted_at: datetime,
    lines: Sequence[StaffLine],
) -> JournalDraft:
    """The adjustment ``lines`` state; any reason it cannot be posted is ``InvalidAdjustment``
    (unbalanced, an unknown account, a bad currency or amount, no reason)."""
    try:
        signed = [
            Line(ln.account, ln.currency, ln.debit - ln.credit, ln.subledger, ln.external_ref)
            for ln in lines
        ]
        return adjustment(
            tenant_id=tenant_id, actor=actor, reason=reason, memo=memo, posted_at=posted_at,
            lines=signed,
        )  # fmt: skip
    except (UnbalancedTransaction, UnknownAccount, MoneyError) as exc:
        raise InvalidAdjustment(str(exc)) from exc


def check_reversible(kind: str, reversed_by: UUID | None) -> None:
    """A transaction of ``kind`` that ``reversed_by`` reverses (None: nothing yet)."""
    if kind == "reversal" or reversed_by is not None:
        raise NotReversible("already reversed, or itself a reversal")


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
