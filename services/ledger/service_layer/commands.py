"""The ledger's commands: one function per command an entrypoint (HTTP, CLI) issues.

Each takes a unit of work and plain arguments, asks the domain to decide, writes through
the unit of work and commits; it returns records and raises the domain's refusals
(``InvalidAdjustment``, ``NotReversible``, ``ClosedPeriod``, ``PeriodCloseRefused``) or
the service layer's (``errors.py``). Nothing here knows HTTP. ``before_commit``, when
given, sees the result inside the transaction about to commit: the HTTP entrypoint
registers there the answer it gives (``shared.http.idempotency.answer``), so a retry after
a crash gets the committed answer, never a second posting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID, uuid4

from services.ledger.domain import breaks as breaks_rules
from services.ledger.domain import fx, periods, staff, stripe_books
from services.ledger.domain.journal import JournalDraft
from services.ledger.domain.recon import (
    ClearingBalance,
    EscrowHeld,
    LineRefusal,
    RefusedLine,
    RunWindow,
    StripeLine,
    in_scope,
)
from services.ledger.domain.staff import StaffLine
from services.ledger.service_layer.errors import NotFound
from services.ledger.service_layer.posting import post
from services.ledger.service_layer.records import (
    BreakRecord,
    StaffAdjustmentRecord,
    TransactionRecord,
)
from services.ledger.service_layer.stripe import StripeAccounts, StripeBalance
from services.ledger.service_layer.unit_of_work import (
    AbstractLedgerUnitOfWork,
    Progress,
    StripeBooks,
)

BeforeCommit = Callable[[TransactionRecord], object]


@dataclass(frozen=True)
class Caller:
    """Who issues a command: the tenant whose books it touches, the actor they record."""

    tenant_id: str
    actor: str


# --- journal ---------------------------------------------------------------------------


async def post_adjustment(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    reason: str,
    memo: str,
    posted_at: datetime,
    lines: Sequence[StaffLine],
    before_commit: BeforeCommit | None = None,
) -> TransactionRecord:
    """A balanced staff posting, with the caller as actor and ``reason``, at or below the
    tenant's approval threshold in each of its currencies; above it (no rules for a
    currency: 0), ``ApprovalRequired``: ask for it (``request_adjustment``) and have a
    second finance user approve it."""
    draft = staff.staff_adjustment(
        tenant_id=caller.tenant_id, actor=caller.actor, reason=reason, memo=memo,
        posted_at=posted_at, lines=lines,
    )  # fmt: skip
    async with uow:
        if breaks_rules.needs_approval(lines, await uow.break_work.rules(caller.tenant_id)):
            raise breaks_rules.ApprovalRequired(
                "the adjustment is above the tenant's approval threshold: ask for it with"
                " POST /v1/ledger/adjustment-requests; a second finance user approves it"
            )
        return await _post_staff(uow, draft, before_commit)


async def request_adjustment(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    reason: str,
    memo: str,
    posted_at: datetime | None,
    lines: Sequence[StaffLine],
    now: datetime,
    before_commit: Callable[[StaffAdjustmentRecord], object] | None = None,
) -> StaffAdjustmentRecord:
    """A staff adjustment asked for by the caller (its maker), waiting for a second finance
    user (``approve_adjustment``); refused now if it could never be posted."""
    staff.staff_adjustment(
        tenant_id=caller.tenant_id, actor=caller.actor, reason=reason, memo=memo,
        posted_at=posted_at or now, lines=lines,
    )  # fmt: skip
    asked = StaffAdjustmentRecord(
        uuid4(), caller.tenant_id, "pending_approval", reason, memo, posted_at, tuple(lines),
        caller.actor, now,
    )  # fmt: skip
    async with uow:
        await uow.break_work.save_adjustment(asked)
        if before_commit is not None:
            before_commit(asked)
        await uow.commit()
    return asked


async def approve_adjustment(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    adjustment_id: UUID,
    now: datetime,
    before_commit: BeforeCommit | None = None,
) -> TransactionRecord:
    """A finance user other than its maker approves the adjustment: it is posted, with the
    maker as actor and the checker named in its reason (the maker: ``SameUserApproval``)."""
    async with uow:
        found = await uow.break_work.adjustment(caller.tenant_id, adjustment_id)
        if found is None:  # unknown, or another tenant's: none of this tenant's either
            raise NotFound("adjustment", adjustment_id)
        if found.status != "pending_approval":
            raise breaks_rules.NoPendingAdjustment(
                f"no adjustment {adjustment_id} waits for approval"
            )
        breaks_rules.check_checker(found.maker, caller.actor)
        draft = staff.staff_adjustment(
            tenant_id=caller.tenant_id, actor=found.maker,
            reason=f"{found.reason} (approved by {caller.actor})", memo=found.memo,
            posted_at=found.posted_at or now, lines=found.lines,
        )  # fmt: skip
        await post(uow, [draft])
        posted = await uow.journal.transaction(caller.tenant_id, id=draft.id)
        assert posted is not None, "a transaction just posted reads back"
        await uow.break_work.save_adjustment(
            replace(found, status="applied", checker=caller.actor, approved_at=now,
                    transaction_id=posted.id)
        )  # fmt: skip
        if before_commit is not None:
            before_commit(posted)
        await uow.commit()
    return posted


async def reverse(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    transaction_id: UUID,
    reason: str,
    now: datetime,
    before_commit: BeforeCommit | None = None,
) -> TransactionRecord:
    """The mirror image of a transaction, dated ``now``. A transaction is reversed once."""
    async with uow:
        original = await uow.journal.transaction(caller.tenant_id, id=transaction_id)
        if original is None:
            raise NotFound("transaction", transaction_id)
        staff.check_reversible(original.kind, await uow.journal.reversed_by(transaction_id))
        draft = staff.reversal(
            tenant_id=caller.tenant_id, original_id=transaction_id,
            original_lines=original.lines(), actor=caller.actor, reason=reason, posted_at=now,
        )  # fmt: skip
        return await _post_staff(uow, draft, before_commit)


async def _post_staff(
    uow: AbstractLedgerUnitOfWork, draft: JournalDraft, before_commit: BeforeCommit | None
) -> TransactionRecord:
    await post(uow, [draft])  # re-checks the reversal under the book's lock
    posted = await uow.journal.transaction(draft.tenant_id, id=draft.id)
    assert posted is not None, "a transaction just posted reads back"
    if before_commit is not None:
        before_commit(posted)
    await uow.commit()
    return posted


# --- periods ---------------------------------------------------------------------------


async def close_period(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    through: datetime,
    reason: str | None,
    now: datetime,
    before_commit: Callable[[], object] | None = None,
) -> None:
    """Close the tenant's books through ``through``: later postings dated before it are
    refused (staff) or moved to the open period keeping their date (late events). The
    book is locked first, so no batch is being appended to it meanwhile."""
    async with uow:
        await uow.journal.lock_books([caller.tenant_id])
        current = await uow.periods.closed_through(caller.tenant_id)
        periods.check_close(through, now, current)
        await uow.periods.add(caller.tenant_id, through, caller.actor, reason)
        if before_commit is not None:
            before_commit()
        await uow.commit()


# --- reconciliation --------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    run_id: int
    stripe_rows: int
    counts: dict[str, int]
    booked: int = 0  # balance transactions booked from Stripe by this run (fees, payouts...)
    balances: tuple[ClearingBalance, ...] = ()
    window: RunWindow = field(default_factory=RunWindow)
    refused: tuple[RefusedLine, ...] = ()  # lines in the window not the tenant's: not booked


async def stripe_lines(
    uow: AbstractLedgerUnitOfWork, caller: Caller, stripe: StripeBalance, window: RunWindow
) -> list[StripeLine]:
    """The caller's balance transactions in ``window``, from its own Stripe account when it
    has one, else from the platform's by the tenant its objects' metadata names. Read
    before the run's transaction opens (no transaction waits on Stripe)."""
    async with uow:
        account = await uow.stripe_books.account_of(caller.tenant_id)
    return await stripe.pull(
        tenant_id=caller.tenant_id, account=account, start=window.start, end=window.end
    )


async def reconcile(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    *,
    source: str,
    lines: Iterable[StripeLine] | None,
    now: datetime,
    window: RunWindow = RunWindow(),
    escrow: Sequence[EscrowHeld] | None = None,
    progress: Progress | None = None,
    before_commit: Callable[[RunResult], object] | None = None,
) -> RunResult:
    """Reconcile Stripe clearing against ``lines`` (with None, only the three-way check of
    escrow held), within ``window``. One run is one transaction: stage the tenant's lines of
    the window, book what Stripe moved that no event books (each balance transaction once),
    match, check, fold into breaks, and compare Stripe clearing with the Stripe balance per
    currency. With ``escrow`` (what escrow answered it holds as of the window's end), the
    three-way check per order names which of ledger, escrow and Stripe disagrees; without,
    escrow held is checked against what escrow's events reported. A run that fails leaves
    no trace, and the breaks as they were."""
    async with uow:
        result = await run_in(uow, caller, source, lines, now, window, escrow, progress)
        if before_commit is not None:
            before_commit(result)
        await uow.commit()
    return result


async def run_in(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    source: str,
    lines: Iterable[StripeLine] | None,
    now: datetime,
    window: RunWindow = RunWindow(),
    escrow: Sequence[EscrowHeld] | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """A run's work inside the caller's open unit of work, which commits it (``reconcile``)
    or rolls it back (the dry run, ``breaks.dry_run``): both do the very same run."""
    tenant = caller.tenant_id
    rec = uow.reconciliation
    run_id = await rec.start_run(tenant, source, caller.actor)
    staged = booked = 0
    refused: list[RefusedLine] = []
    if lines is not None:
        own = await uow.stripe_books.account_of(tenant) is not None
        mine = list(in_scope(lines, tenant, window, own, refused))
        # a balance transaction another tenant's run recorded is that tenant's
        taken = await uow.stripe_books.claimed(tenant, [x.balance_txn_id for x in mine])
        refused += [RefusedLine(x, LineRefusal.OTHER_TENANT) for x in sorted(taken)]
        kept = (x for x in mine if x.balance_txn_id not in taken)
        staged = await rec.stage(run_id, kept, progress)
        booked = await _book_stripe(uow, tenant, run_id, now)
    counts = await rec.match(
        tenant, run_id, now, stripe=lines is not None, window=window, escrow=escrow
    )
    balances = await uow.stripe_books.balances(tenant, window.end or now)
    await rec.finish(run_id, staged, booked, window, balances)
    return RunResult(run_id, staged, counts, booked, tuple(balances), window, tuple(refused))


async def _book_stripe(
    uow: AbstractLedgerUnitOfWork, tenant: str, run_id: int, now: datetime
) -> int:
    """Book the balance transactions this run saw first, and the payouts that arrived."""
    books = uow.stripe_books
    new = await books.record(tenant, run_id)
    returns = [line.source_id for line in new if line.type in stripe_books.PAYOUT_RETURNS]
    arrived = await books.arrived(tenant, returns) if returns else set()
    drafts = [
        d for line in new if (d := stripe_books.movement(tenant, line, line.source_id in arrived))
    ]
    due = await books.payouts_due(tenant, now)
    drafts += [stripe_books.arrival(tenant, payout) for payout in due]
    drafts += await _fx_settlements(books, tenant)
    posted = await post(uow, sorted(drafts, key=lambda d: (d.posted_at, str(d.source_event_id))))
    if due:
        await books.mark_arrived([payout.balance_txn_id for payout in due])
    return sum(not p.duplicate for p in posted)


async def _fx_settlements(books: StripeBooks, tenant: str) -> list[JournalDraft]:
    """Stripe's settlement of the converted objects (an ``exchange_rate`` on a line whose
    gross an event booked), with the realised FX gain or loss: the lines of this run and
    those of earlier runs whose conversion's event had not come yet. Marked settled here:
    the journal's unique source event id books each once whatever happens."""
    converted = await books.unsettled(tenant)
    if not converted:
        return []
    positions = await books.fx_positions(tenant, sorted({line.source_id for line in converted}))
    drafts, settled = [], []
    for line in converted:
        booked, open_fx = positions.get(line.source_id, ({}, {}))
        if (draft := fx.settlement(tenant, line, booked, open_fx)) is not None:
            drafts.append(draft)
            settled.append(line.balance_txn_id)
    if settled:
        await books.mark_settled(settled)
    return drafts


async def set_stripe_account(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    account: str,
    accounts: StripeAccounts,
    before_commit: Callable[[], object] | None = None,
) -> None:
    """The tenant's own (connected) Stripe account: its runs read that account only. The
    account must be one the platform's Stripe key can read (``StripeAccountUnknown``),
    asked before the transaction opens, and no other tenant's (``StripeAccountTaken``);
    the binding records who made it and when."""
    await accounts.verify(account)
    async with uow:
        await uow.stripe_books.set_account(caller.tenant_id, account, caller.actor)
        if before_commit is not None:
            before_commit()
        await uow.commit()


async def resolve_break(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    break_id: int,
    resolution: str,
    now: datetime,
    before_commit: Callable[[BreakRecord], object] | None = None,
) -> BreakRecord:
    """Staff resolved a break with a note: it stays resolved across runs, and as it was
    resolved (``BreakResolved`` for one resolved already). A resolution waiting for
    approval does not stop it: that one is then never posted (``breaks.approve``)."""
    async with uow:
        locked = await uow.break_work.lock(caller.tenant_id, [break_id])
        if break_id in locked:
            breaks_rules.check_resolvable(locked[break_id].status, pending=False)
        found = await uow.reconciliation.resolve(
            caller.tenant_id, break_id, resolution, caller.actor, now
        )
        return await _break_changed(uow, break_id, found, before_commit)


async def assign_break(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    break_id: int,
    owner: str,
    before_commit: Callable[[BreakRecord], object] | None = None,
) -> BreakRecord:
    async with uow:
        found = await uow.reconciliation.assign(caller.tenant_id, break_id, owner)
        return await _break_changed(uow, break_id, found, before_commit)


async def _break_changed(
    uow: AbstractLedgerUnitOfWork,
    break_id: int,
    found: BreakRecord | None,
    before_commit: Callable[[BreakRecord], object] | None,
) -> BreakRecord:
    if found is None:
        raise NotFound("break", break_id)
    if before_commit is not None:
        before_commit(found)
    await uow.commit()
    return found
