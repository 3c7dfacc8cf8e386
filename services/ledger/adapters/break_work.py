"""The break workflow's tables (ledger_0008): matching rules, comments, assignments and
resolutions; and the break rows a command works on, locked for its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.tables import (
    break_assignments,
    break_comments,
    break_resolutions,
    recon_breaks,
    recon_match_rules,
    staff_adjustments,
)
from services.ledger.domain.breaks import MatchRules, ThresholdChange
from services.ledger.domain.staff import StaffLine
from services.ledger.service_layer.records import (
    AdjustmentRequest,
    AssignmentRecord,
    BreakRecord,
    CommentRecord,
    ResolutionRecord,
    StaffAdjustmentRecord,
)


class SqlBreakWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def rules(self, tenant_id: str) -> dict[str, MatchRules]:
        rows = await self._conn.execute(
            sa.select(recon_match_rules).where(recon_match_rules.c.tenant_id == tenant_id)
        )
        return {
            r.currency: MatchRules(
                r.currency, r.amount_tolerance, r.date_window_days, r.approval_threshold
            )
            for r in rows
        }

    async def set_rules(self, tenant_id: str, rules: MatchRules, by: str, at: datetime) -> None:
        values = {
            "amount_tolerance": rules.amount_tolerance,
            "date_window_days": rules.date_window_days,
            "approval_threshold": rules.approval_threshold,
            "updated_by": by,
            "updated_at": at,
        }
        q = insert(recon_match_rules).values(tenant_id=tenant_id, currency=rules.currency, **values)
        await self._conn.execute(
            q.on_conflict_do_update(index_elements=["tenant_id", "currency"], set_=values)
        )

    async def save_adjustment(self, r: StaffAdjustmentRecord) -> None:
        values = {
            "tenant_id": r.tenant_id, "status": r.status, "reason": r.reason, "memo": r.memo,
            "posted_at": r.posted_at, "lines": _lines_json(r.lines), "maker": r.maker,
            "requested_at": r.requested_at, "checker": r.checker, "approved_at": r.approved_at,
            "transaction_id": r.transaction_id,
        }  # fmt: skip
        q = insert(staff_adjustments).values(id=r.id, **values)
        await self._conn.execute(q.on_conflict_do_update(index_elements=["id"], set_=values))

    async def adjustment(self, tenant_id: str, adjustment_id: UUID) -> StaffAdjustmentRecord | None:
        c = staff_adjustments.c
        q = (
            sa.select(staff_adjustments)
            .where(c.tenant_id == tenant_id, c.id == adjustment_id)
            .with_for_update()
        )
        row = (await self._conn.execute(q)).first()
        if row is None:
            return None
        m = dict(row._mapping)
        m["lines"] = tuple(StaffLine(**ln) for ln in m["lines"])
        return StaffAdjustmentRecord(**m)

    async def pending_thresholds(self, tenant_id: str) -> dict[str, ThresholdChange]:
        t = recon_match_rules.c
        rows = await self._conn.execute(
            sa.select(t.currency, t.pending_threshold, t.pending_by, t.pending_at).where(
                t.tenant_id == tenant_id, t.pending_threshold.is_not(None)
            )
        )
        return {r.currency: ThresholdChange(*r) for r in rows}

    async def set_pending_threshold(
        self, tenant_id: str, currency: str, change: ThresholdChange | None
    ) -> None:
        t = recon_match_rules.c
        await self._conn.execute(
            sa.update(recon_match_rules)
            .where(t.tenant_id == tenant_id, t.currency == currency)
            .values(
                pending_threshold=change.threshold if change else None,
                pending_by=change.maker if change else None,
                pending_at=change.made_at if change else None,
            )
        )

    async def lock(self, tenant_id: str, break_ids: Sequence[int]) -> dict[int, BreakRecord]:
        """The tenant's breaks among ``break_ids``, locked (in id order) until the end."""
        q = (
            sa.select(recon_breaks)
            .where(recon_breaks.c.tenant_id == tenant_id, recon_breaks.c.id.in_(list(break_ids)))
            .order_by(recon_breaks.c.id)
            .with_for_update()
        )
        return {r.id: BreakRecord(**r._mapping) for r in await self._conn.execute(q)}

    async def all_breaks(self, tenant_id: str) -> list[BreakRecord]:
        q = sa.select(recon_breaks).where(recon_breaks.c.tenant_id == tenant_id)
        rows = await self._conn.execute(q.order_by(recon_breaks.c.id))
        return [BreakRecord(**r._mapping) for r in rows]

    async def mark_resolved(
        self, tenant_id: str, break_ids: Sequence[int], resolution: str, by: str, at: datetime
    ) -> None:
        await self._conn.execute(
            recon_breaks.update()
            .where(recon_breaks.c.tenant_id == tenant_id, recon_breaks.c.id.in_(list(break_ids)))
            .values(status="resolved", resolution=resolution, resolved_by=by, resolved_at=at)
        )

    async def add_comment(
        self, tenant_id: str, break_id: int, author: str, body: str, at: datetime
    ) -> CommentRecord:
        q = break_comments.insert().values(
            tenant_id=tenant_id, break_id=break_id, author=author, body=body, created_at=at
        )
        comment_id = (await self._conn.execute(q.returning(break_comments.c.id))).scalar_one()
        return CommentRecord(comment_id, break_id, author, body, at)

    async def comments(self, tenant_id: str, break_id: int) -> list[CommentRecord]:
        c = break_comments.c
        rows = await self._conn.execute(
            sa.select(c.id, c.break_id, c.author, c.body, c.created_at)
            .where(c.tenant_id == tenant_id, c.break_id == break_id)
            .order_by(c.id)
        )
        return [CommentRecord(**r._mapping) for r in rows]

    async def assign(
        self, tenant_id: str, break_id: int, assignee: str, by: str, at: datetime
    ) -> AssignmentRecord:
        values = {"assignee": assignee, "assigned_by": by, "assigned_at": at}
        q = insert(break_assignments).values(tenant_id=tenant_id, break_id=break_id, **values)
        await self._conn.execute(q.on_conflict_do_update(index_elements=["break_id"], set_=values))
        return AssignmentRecord(break_id, assignee, by, at)

    async def assignment(self, tenant_id: str, break_id: int) -> AssignmentRecord | None:
        c = break_assignments.c
        row = (
            await self._conn.execute(
                sa.select(c.break_id, c.assignee, c.assigned_by, c.assigned_at).where(
                    c.tenant_id == tenant_id, c.break_id == break_id
                )
            )
        ).first()
        return AssignmentRecord(**row._mapping) if row else None

    async def resolutions(
        self, tenant_id: str, break_ids: Sequence[int]
    ) -> dict[int, ResolutionRecord]:
        c = break_resolutions.c
        rows = await self._conn.execute(
            sa.select(break_resolutions).where(
                c.tenant_id == tenant_id, c.break_id.in_(list(break_ids))
            )
        )
        return {r.break_id: _resolution(r._mapping) for r in rows}

    async def save_resolution(self, r: ResolutionRecord) -> None:
        values = {
            "tenant_id": r.tenant_id, "status": r.status, "reason": r.reason, "maker": r.maker,
            "requested_at": r.requested_at, "adjustment": _adjustment_json(r.adjustment),
            "checker": r.checker, "approved_at": r.approved_at,
            "transaction_id": r.transaction_id,
        }  # fmt: skip
        q = insert(break_resolutions).values(break_id=r.break_id, **values)
        await self._conn.execute(q.on_conflict_do_update(index_elements=["break_id"], set_=values))


def _lines_json(lines: Sequence[StaffLine]) -> list[dict[str, Any]]:
    return [
        {"account": ln.account, "currency": ln.currency, "debit": ln.debit,
         "credit": ln.credit, "subledger": ln.subledger, "external_ref": ln.external_ref}
        for ln in lines
    ]  # fmt: skip


def _adjustment_json(a: AdjustmentRequest | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"memo": a.memo, "lines": _lines_json(a.lines)}


def _resolution(m: Any) -> ResolutionRecord:
    raw = m["adjustment"]
    adjustment = (
        AdjustmentRequest(raw["memo"], tuple(StaffLine(**ln) for ln in raw["lines"]))
        if raw is not None
        else None
    )
    fields = {k: m[k] for k in ResolutionRecord.__dataclass_fields__ if k != "adjustment"}
    return ResolutionRecord(**{**fields, "adjustment": adjustment})
