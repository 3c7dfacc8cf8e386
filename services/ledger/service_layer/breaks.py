"""Working the breaks (``domain/breaks.py``): comment, assign to a finance user, resolve with
a reason and an adjusting transaction (maker-checker above the tenant's threshold), bulk
resolve (all or nothing), the tenant's matching rules, and a dry run of reconciliation.

Every command locks the breaks it works on (``uow.break_work.lock``) for its transaction,
so two finance users approving or resolving one break at once end in one outcome: the
second waits, then sees the first's. ``before_commit`` registers the HTTP answer inside
the commit (as in ``commands.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

from services.ledger.domain import breaks as rules_of
from services.ledger.domain import staff
from services.ledger.domain.breaks import (
    BulkResolveRefused,
    MatchRules,
    NoPendingResolution,
    NoPendingThreshold,
    NotAFinanceUser,
    ThresholdChange,
)
from services.ledger.domain.journal import JournalDraft
from services.ledger.domain.recon import RunWindow, StripeLine
from services.ledger.service_layer.commands import Caller, run_in
from services.ledger.service_layer.errors import NotFound
from services.ledger.service_layer.posting import post
from services.ledger.service_layer.records import (
    AdjustmentRequest,
    AssignmentRecord,
    BreakRecord,
    CommentRecord,
    ResolutionRecord,
    TransactionRecord,
)
from services.ledger.service_layer.unit_of_work import AbstractLedgerUnitOfWork

T = TypeVar("T")
BeforeCommit = Callable[[T], object] | None


class FinanceUsers(Protocol):
    async def is_finance_user(self, tenant_id: str, actor: str) -> bool:
        """Whether a valid finance key of the tenant acts as ``actor``."""


@dataclass(frozen=True)
class Resolved:
    """A resolution as it stands, the break, and the adjusting transaction it posted."""

    resolution: ResolutionRecord
    break_: BreakRecord
    transaction: TransactionRecord | None


async def _one(uow: AbstractLedgerUnitOfWork, caller: Caller, break_id: int) -> BreakRecord:
    found = await uow.break_work.lock(caller.tenant_id, [break_id])
    if break_id not in found:
        raise NotFound("break", break_id)
    return found[break_id]


def _done(before_commit: BeforeCommit[T], result: T) -> T:
    if before_commit is not None:
        before_commit(result)
    return result


async def comment(
    uow: AbstractLedgerUnitOfWork, caller: Caller, break_id: int, body: str, now: datetime,
    before_commit: BeforeCommit[CommentRecord] = None,
) -> CommentRecord:  # fmt: skip
    """A note on the break, with the caller as author and ``now`` as its time."""
    async with uow:
        await _one(uow, caller, break_id)
        c = await uow.break_work.add_comment(caller.tenant_id, break_id, caller.actor, body, now)
        _done(before_commit, c)
        await uow.commit()
    return c


async def assign_to(
    uow: AbstractLedgerUnitOfWork, caller: Caller, users: FinanceUsers, break_id: int,
    assignee: str, now: datetime, before_commit: BeforeCommit[AssignmentRecord] = None,
) -> AssignmentRecord:  # fmt: skip
    """Assign the break to a finance user of the tenant (``apikey:<name>``)."""
    async with uow:
        await _one(uow, caller, break_id)  # another tenant's break: 404 before anything
        if not await users.is_finance_user(caller.tenant_id, assignee):
            raise NotAFinanceUser(f"{assignee} is no finance user of this tenant")
        a = await uow.break_work.assign(caller.tenant_id, break_id, assignee, caller.actor, now)
        _done(before_commit, a)
        await uow.commit()
    return a


async def resolve(
    uow: AbstractLedgerUnitOfWork, caller: Caller, break_id: int, reason: str,
    adjustment: AdjustmentRequest | None, now: datetime,
    before_commit: BeforeCommit[Resolved] = None,
) -> Resolved:  # fmt: skip
    """Resolve with ``reason``; with an ``adjustment``, post it (dated ``now``) and link
    it, or, above the tenant's threshold, keep it waiting for a second finance user."""
    async with uow:
        b = await _one(uow, caller, break_id)
        work = uow.break_work
        existing = (await work.resolutions(caller.tenant_id, [break_id])).get(break_id)
        rules_of.check_resolvable(b.status, _pending(existing))
        resolution = ResolutionRecord(
            break_id, caller.tenant_id, "applied", reason, caller.actor, now, adjustment
        )
        tx = None
        if adjustment is not None:
            _draft(caller, resolution, caller.actor, now)  # refuses a bad one now, not later
            if rules_of.needs_approval(adjustment.lines, await work.rules(caller.tenant_id)):
                resolution = replace(resolution, status="pending_approval")
            else:
                tx = await _post(uow, caller, resolution, now)
                resolution = replace(resolution, transaction_id=tx.id)
        await work.save_resolution(resolution)
        if resolution.status == "applied":
            b = await _mark(uow, caller, b, reason, now)
        result = _done(before_commit, Resolved(resolution, b, tx))
        await uow.commit()
    return result


async def approve(
    uow: AbstractLedgerUnitOfWork, caller: Caller, break_id: int, now: datetime,
    before_commit: BeforeCommit[Resolved] = None,
) -> Resolved:  # fmt: skip
    """A checker approves the pending adjustment: it is posted and the break resolved. The
    maker approving their own is ``SameUserApproval``."""
    async with uow:
        b = await _one(uow, caller, break_id)
        found = (await uow.break_work.resolutions(caller.tenant_id, [break_id])).get(break_id)
        if found is None or not _pending(found):
            raise NoPendingResolution("no adjustment of this break waits for approval")
        rules_of.check_checker(found.maker, caller.actor)
        rules_of.check_resolvable(b.status, pending=False)  # resolved meanwhile (.../resolve)
        tx = await _post(uow, caller, found, now, checker=caller.actor)
        resolution = replace(
            found, status="applied", checker=caller.actor, approved_at=now, transaction_id=tx.id
        )
        await uow.break_work.save_resolution(resolution)
        b = await _mark(uow, caller, b, found.reason, now)
        result = _done(before_commit, Resolved(resolution, b, tx))
        await uow.commit()
    return result


async def bulk_resolve(
    uow: AbstractLedgerUnitOfWork, caller: Caller, break_ids: Sequence[int], reason: str,
    now: datetime, before_commit: BeforeCommit[list[BreakRecord]] = None,
) -> list[BreakRecord]:  # fmt: skip
    """Resolve every one of ``break_ids`` with ``reason`` (no money moves), or none:
    ``BulkResolveRefused`` names each break that refuses and why."""
    async with uow:
        work = uow.break_work
        found = await work.lock(caller.tenant_id, break_ids)
        pending = await work.resolutions(caller.tenant_id, list(found))
        states = {i: (b.status, _pending(pending.get(i))) for i, b in found.items()}
        refusals = rules_of.bulk_refusals(break_ids, states)
        if refusals:
            raise BulkResolveRefused(refusals)
        for i in break_ids:
            await work.save_resolution(
                ResolutionRecord(i, caller.tenant_id, "applied", reason, caller.actor, now, None)
            )
        await work.mark_resolved(caller.tenant_id, break_ids, reason, caller.actor, now)
        resolved = list((await work.lock(caller.tenant_id, break_ids)).values())
        _done(before_commit, resolved)
        await uow.commit()
    return resolved


def _pending(r: ResolutionRecord | None) -> bool:
    return r is not None and r.status == "pending_approval"


def _draft(caller: Caller, r: ResolutionRecord, actor: str, now: datetime,
           checker: str | None = None) -> JournalDraft:  # fmt: skip
    assert r.adjustment is not None
    approved = f"; approved by {checker}" if checker else ""
    return staff.staff_adjustment(
        tenant_id=caller.tenant_id, actor=actor,
        reason=f"{r.reason} (break {r.break_id}{approved})", memo=r.adjustment.memo,
        posted_at=now, lines=r.adjustment.lines,
    )  # fmt: skip


async def _post(uow: AbstractLedgerUnitOfWork, caller: Caller, r: ResolutionRecord,
                now: datetime, checker: str | None = None) -> TransactionRecord:  # fmt: skip
    """The resolution's adjustment, posted with its maker as actor (and its checker named
    in the reason), dated ``now``: a closed period refuses it as any staff posting."""
    draft = _draft(caller, r, r.maker, now, checker)
    await post(uow, [draft])
    tx = await uow.journal.transaction(caller.tenant_id, id=draft.id)
    assert tx is not None, "a transaction just posted reads back"
    return tx


async def _mark(uow: AbstractLedgerUnitOfWork, caller: Caller, b: BreakRecord, reason: str,
                now: datetime) -> BreakRecord:  # fmt: skip
    await uow.break_work.mark_resolved(caller.tenant_id, [b.id], reason, caller.actor, now)
    return replace(b, status="resolved", resolution=reason, resolved_by=caller.actor,
                   resolved_at=now)  # fmt: skip


# --- reading a break's workflow --------------------------------------------------------


@dataclass(frozen=True)
class Workflow:
    break_: BreakRecord
    assignment: AssignmentRecord | None
    comments: list[CommentRecord]
    resolution: ResolutionRecord | None


async def workflow(uow: AbstractLedgerUnitOfWork, caller: Caller, break_id: int) -> Workflow:
    async with uow:
        work = uow.break_work
        b = await _one(uow, caller, break_id)
        return Workflow(
            b, await work.assignment(caller.tenant_id, break_id),
            await work.comments(caller.tenant_id, break_id),
            (await work.resolutions(caller.tenant_id, [break_id])).get(break_id),
        )  # fmt: skip


# --- matching rules and the dry run ----------------------------------------------------


async def matching_rules(uow: AbstractLedgerUnitOfWork, caller: Caller) -> list[MatchRules]:
    async with uow:
        found = await uow.break_work.rules(caller.tenant_id)
    return [found[c] for c in sorted(found)]


@dataclass(frozen=True)
class RulesSet:
    """The rules in force, and a raise of their threshold waiting for a checker."""

    rules: MatchRules
    pending: ThresholdChange | None = None


async def set_matching_rules(
    uow: AbstractLedgerUnitOfWork, caller: Caller, rules: MatchRules, now: datetime,
    before_commit: BeforeCommit[RulesSet] = None,
) -> RulesSet:  # fmt: skip
    """Set one currency's rules. A raise of the approval threshold does not apply: it
    waits for a finance user other than the caller (``approve_threshold``), the threshold
    in force staying as it was; a lower or equal one applies at once and drops any raise
    waiting."""
    async with uow:
        work = uow.break_work
        current = (await work.rules(caller.tenant_id)).get(rules.currency)
        pending = None
        if rules_of.raises_threshold(current, rules):
            kept = current.approval_threshold if current else 0
            pending = ThresholdChange(rules.currency, rules.approval_threshold, caller.actor, now)
            rules = replace(rules, approval_threshold=kept)
        await work.set_rules(caller.tenant_id, rules, caller.actor, now)
        await work.set_pending_threshold(caller.tenant_id, rules.currency, pending)
        result = _done(before_commit, RulesSet(rules, pending))
        await uow.commit()
    return result


async def approve_threshold(
    uow: AbstractLedgerUnitOfWork, caller: Caller, currency: str, now: datetime,
    before_commit: BeforeCommit[RulesSet] = None,
) -> RulesSet:  # fmt: skip
    """A second finance user approves the raise of ``currency``'s threshold: it applies.
    Its maker approving it is ``SameUserApproval``."""
    async with uow:
        work = uow.break_work
        change = (await work.pending_thresholds(caller.tenant_id)).get(currency)
        current = (await work.rules(caller.tenant_id)).get(currency)
        if change is None or current is None:
            raise NoPendingThreshold(f"no raise of the {currency} threshold waits for approval")
        rules_of.check_checker(change.maker, caller.actor)
        rules = replace(current, approval_threshold=change.threshold)
        await work.set_rules(caller.tenant_id, rules, caller.actor, now)
        await work.set_pending_threshold(caller.tenant_id, currency, None)
        result = _done(before_commit, RulesSet(rules))
        await uow.commit()
    return result


async def pending_thresholds(
    uow: AbstractLedgerUnitOfWork, caller: Caller
) -> dict[str, ThresholdChange]:
    async with uow:
        return await uow.break_work.pending_thresholds(caller.tenant_id)


@dataclass(frozen=True)
class DryRun:
    """What a run would do: its counts, and the breaks it would open, reopen, change
    (amounts) and clear."""

    stripe_rows: int
    counts: dict[str, int]
    opened: list[BreakRecord]
    reopened: list[BreakRecord]
    changed: list[BreakRecord]
    cleared: list[BreakRecord]


async def dry_run(
    uow: AbstractLedgerUnitOfWork, caller: Caller, *, lines: Iterable[StripeLine] | None,
    source: str, now: datetime, window: RunWindow = RunWindow(),
) -> DryRun:  # fmt: skip
    """The very run ``commands.reconcile`` makes, in a transaction that is rolled back:
    nothing it did is kept (the run, its staged lines, the breaks)."""
    async with uow:
        work = uow.break_work
        before = {b.id: b for b in await work.all_breaks(caller.tenant_id)}
        run = await run_in(uow, caller, source, lines, now, window)
        staged, counts = run.stripe_rows, run.counts
        after = await work.all_breaks(caller.tenant_id)
        # no commit: leaving the block rolls all of it back
    opened, reopened, changed, cleared = [], [], [], []
    for b in after:
        was = before.get(b.id)
        if was is None:
            opened.append(b)
        elif was.status == "cleared" and b.status == "open":
            reopened.append(b)
        elif was.status == "open" and b.status == "cleared":
            cleared.append(b)
        elif (was.ledger_amount, was.other_amount) != (b.ledger_amount, b.other_amount):
            changed.append(b)
    return DryRun(staged, counts, opened, reopened, changed, cleared)
