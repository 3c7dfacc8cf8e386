"""Every ledger use case against the in-memory unit of work: what it commits, and that a
refused command commits nothing. No database: microseconds each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.ledger.domain.breaks import (
    ApprovalRequired,
    MatchRules,
    NoPendingAdjustment,
    SameUserApproval,
)
from services.ledger.domain.periods import ClosedPeriod, PeriodCloseRefused
from services.ledger.domain.recon import ReportFormatError, StripeLine
from services.ledger.domain.staff import InvalidAdjustment, NotReversible, StaffLine
from services.ledger.service_layer import breaks, commands, events, queries, timers
from services.ledger.service_layer.commands import Caller
from services.ledger.service_layer.errors import InvalidCursor, NotFound
from services.ledger.service_layer.records import BreakRecord, TransactionRecord
from shared.events import Envelope, EventModel
from shared.events.escrow import Funded, MilestoneReleased
from shared.inbox import PermanentFailure
from shared.pagination import Page
from tests.unit.ledger.fakes import FakeLedgerUnitOfWork

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
MAY_END = datetime(2026, 6, 1, tzinfo=UTC)
FINANCE = Caller(tenant_id="t1", actor="apikey:alice")
OTHER_TENANT = Caller(tenant_id="t2", actor="apikey:mallory")
FEE = [
    StaffLine("psp_fee_expense", "USD", debit=320),
    StaffLine("stripe_clearing", "USD", credit=320, external_ref="ch_1"),
]


@pytest.fixture
def uow() -> FakeLedgerUnitOfWork:
    return FakeLedgerUnitOfWork()


def wrap(payload: EventModel, tenant: str = "t1", at: datetime = NOW) -> Envelope:
    order = str(getattr(payload, "order_id", "o1"))
    return Envelope.wrap(payload, source="escrow", tenant_id=tenant, subject=order, occurred_at=at)


def funded(order: str, amount: int, at: datetime = NOW, **kw: Any) -> Envelope:
    fields: dict[str, Any] = {
        "payment_id": f"pay_{order}", "currency": "USD", "method": "stripe",
        "stripe_payment_intent_id": f"pi_{order}", "stripe_charge_id": f"ch_{order}",
        "funded_total": amount, "fully_funded": True, "held_after": amount, **kw,
    }  # fmt: skip
    return wrap(Funded(order_id=order, amount=amount, **fields), at=at)


def bad_release(order: str) -> Envelope:
    """gross != fee + lien + net: the escrow would never send it; the ledger must not post it."""
    ok = wrap(
        MilestoneReleased(
            order_id=order, milestone_id="m1", payout_id="po1", currency="USD", gross=1_000,
            platform_fee=10, lien_repayment=0, supplier_net=990, advance_id=None,
            stripe_transfer_id=None, held_after=0,
        )
    )  # fmt: skip
    return Envelope(**{**ok.model_dump(), "data": {**ok.data, "supplier_net": 1}})


def nothing_committed(uow: FakeLedgerUnitOfWork) -> bool:
    return uow.commits == 0 and uow.journal.transactions == {} and uow.outbox.envelopes == []


async def posted_event(uow: FakeLedgerUnitOfWork, env: Envelope) -> TransactionRecord:
    async with uow:
        assert await events.post_events(uow, [env]) == {}
        await uow.commit()
    return await queries.transaction_of_source(uow, FINANCE, env.id)


# --- adjustments -----------------------------------------------------------------------

CHECKER = Caller(tenant_id="t1", actor="apikey:bob")


async def allow_adjustments(uow: FakeLedgerUnitOfWork, up_to: int = 10**12) -> None:
    """The tenant's USD threshold raised (by Alice, approved by Bob): adjustments up to it
    post without a checker, as the tests that are not about maker-checker need."""
    await breaks.set_matching_rules(uow, FINANCE, MatchRules("USD", approval_threshold=up_to), NOW)
    await breaks.approve_threshold(uow, CHECKER, "USD", NOW)


async def test_an_adjustment_above_the_threshold_needs_a_second_finance_user(
    uow: FakeLedgerUnitOfWork,
) -> None:
    """The defect: POST /v1/ledger/adjustments posted any amount on one user's word."""
    await allow_adjustments(uow, up_to=100)
    commits = uow.commits
    with pytest.raises(ApprovalRequired):
        await commands.post_adjustment(uow, FINANCE, "write off", "", NOW, FEE)  # 320 > 100
    assert uow.journal.transactions == {} and uow.commits == commits
    asked = await commands.request_adjustment(uow, FINANCE, "write off", "PSP", None, FEE, NOW)
    assert (asked.status, asked.maker, uow.journal.transactions) == (
        "pending_approval", "apikey:alice", {},
    )  # fmt: skip
    with pytest.raises(SameUserApproval):
        await commands.approve_adjustment(uow, FINANCE, asked.id, NOW)
    assert uow.journal.transactions == {}
    with pytest.raises(NotFound):  # another tenant's is none
        await commands.approve_adjustment(uow, OTHER_TENANT, asked.id, NOW)
    tx = await commands.approve_adjustment(uow, CHECKER, asked.id, NOW)
    assert (tx.actor, tx.reason, tx.posted_at) == (
        "apikey:alice", "write off (approved by apikey:bob)", NOW,
    )  # fmt: skip
    assert uow.break_work.adjustments[asked.id].transaction_id == tx.id
    with pytest.raises(NoPendingAdjustment):
        await commands.approve_adjustment(uow, CHECKER, asked.id, NOW)
    # at or below the threshold, it posts at once
    small = [StaffLine("psp_fee_expense", "USD", debit=100), StaffLine("bank", "USD", credit=100)]
    assert (await commands.post_adjustment(uow, FINANCE, "small", "", NOW, small)).actor


async def test_an_adjustment_commits_a_balanced_posting_with_actor_and_reason(
    uow: FakeLedgerUnitOfWork,
) -> None:
    await allow_adjustments(uow)
    seen: list[TransactionRecord] = []
    tx = await commands.post_adjustment(
        uow, FINANCE, "Stripe fee on ch_1 not booked", "PSP fee", NOW, FEE, seen.append
    )
    assert (tx.kind, tx.actor, tx.reason, tx.memo) == (
        "adjustment", "apikey:alice", "Stripe fee on ch_1 not booked", "PSP fee",
    )  # fmt: skip
    assert [(p.code, p.amount, p.external_ref) for p in tx.postings] == [
        ("psp_fee_expense", 320, None),
        ("stripe_clearing", -320, "ch_1"),
    ]
    assert tx.source_event_id == tx.id and tx.book_seq == 1 and len(tx.hash) == 64
    assert uow.journal.heads["t1"] == (1, tx.hash)
    assert seen == [tx] and uow.commits == 3  # the policy (asked, approved), the posting


@pytest.mark.parametrize(
    "lines",
    [
        [StaffLine("psp_fee_expense", "USD", debit=321), FEE[1]],  # unbalanced
        [StaffLine("no_such_account", "USD", debit=320), FEE[1]],
        [StaffLine("psp_fee_expense", "XXQ", debit=320), FEE[1]],  # no such currency
        FEE[:1],  # one line
    ],
)
async def test_an_invalid_adjustment_commits_nothing(
    uow: FakeLedgerUnitOfWork, lines: list[StaffLine]
) -> None:
    seen: list[TransactionRecord] = []
    with pytest.raises(InvalidAdjustment):
        await commands.post_adjustment(uow, FINANCE, "a reason", "", NOW, lines, seen.append)
    assert nothing_committed(uow) and seen == []


async def test_an_adjustment_dated_in_a_closed_period_commits_nothing(
    uow: FakeLedgerUnitOfWork,
) -> None:
    await allow_adjustments(uow)
    await commands.close_period(uow, FINANCE, MAY_END, "May", NOW)
    with pytest.raises(ClosedPeriod):
        await commands.post_adjustment(uow, FINANCE, "back-dated", "", MAY_END - timedelta(1), FEE)
    assert uow.journal.transactions == {} and uow.commits == 3  # the policy (2), the close
    tx = await commands.post_adjustment(uow, FINANCE, "on the day", "", MAY_END, FEE)
    assert tx.posted_at == MAY_END


# --- reversals -------------------------------------------------------------------------


async def test_a_reversal_mirrors_its_transaction_dated_now(uow: FakeLedgerUnitOfWork) -> None:
    original = await posted_event(uow, funded("o1", 4_000, at=MAY_END))
    seen: list[TransactionRecord] = []
    rev = await commands.reverse(uow, FINANCE, original.id, "duplicate charge", NOW, seen.append)
    assert (rev.kind, rev.reverses, rev.posted_at, rev.actor) == (
        "reversal", original.id, NOW, "apikey:alice",
    )  # fmt: skip
    assert [(p.code, p.amount) for p in rev.postings] == [
        (p.code, -p.amount) for p in original.postings
    ]
    assert seen == [rev] and rev.book_seq == 2


async def test_a_transaction_is_reversed_once_and_a_reversal_never(
    uow: FakeLedgerUnitOfWork,
) -> None:
    original = await posted_event(uow, funded("o1", 4_000))
    rev = await commands.reverse(uow, FINANCE, original.id, "duplicate", NOW)
    before, commits = dict(uow.journal.transactions), uow.commits
    for target in (original.id, rev.id):
        with pytest.raises(NotReversible):
            await commands.reverse(uow, FINANCE, target, "again", NOW)
    assert uow.journal.transactions == before and uow.commits == commits


async def test_a_reversal_that_lost_the_race_is_refused_under_the_lock(
    uow: FakeLedgerUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another reversal committed between this one's check and its lock: the posting
    engine's admission, under the book's lock, refuses the second."""
    original = await posted_event(uow, funded("o1", 4_000))
    await commands.reverse(uow, FINANCE, original.id, "first", NOW)
    before, commits = dict(uow.journal.transactions), uow.commits

    async def not_yet(transaction_id: UUID) -> UUID | None:
        return None  # what the check read before the other reversal committed

    monkeypatch.setattr(uow.journal, "reversed_by", not_yet)
    with pytest.raises(NotReversible, match="reversed already"):
        await commands.reverse(uow, FINANCE, original.id, "second", NOW)
    assert uow.journal.transactions == before and uow.commits == commits


async def test_reversing_what_is_not_the_callers_is_not_found(uow: FakeLedgerUnitOfWork) -> None:
    original = await posted_event(uow, funded("o1", 4_000))
    commits = uow.commits
    for who, tx_id in ((OTHER_TENANT, original.id), (FINANCE, uuid4())):
        with pytest.raises(NotFound):
            await commands.reverse(uow, who, tx_id, "not mine", NOW)
    assert len(uow.journal.transactions) == 1 and uow.commits == commits


# --- periods ---------------------------------------------------------------------------


async def test_closing_a_period_records_the_close_under_the_books_lock(
    uow: FakeLedgerUnitOfWork,
) -> None:
    answered: list[bool] = []
    await commands.close_period(
        uow, FINANCE, MAY_END, "May books", NOW, lambda: answered.append(True)
    )
    assert [(c.closed_through, c.closed_by, c.reason) for c in uow.periods.closes] == [
        (MAY_END, "apikey:alice", "May books")
    ]
    assert "t1" in uow.journal.locked and answered == [True] and uow.commits == 1
    history = await queries.period_closes(uow, FINANCE)
    assert [c.closed_through for c in history] == [MAY_END]


async def test_a_close_backwards_or_over_the_future_commits_nothing(
    uow: FakeLedgerUnitOfWork,
) -> None:
    await commands.close_period(uow, FINANCE, MAY_END, "May", NOW)
    for through in (MAY_END, MAY_END - timedelta(days=31), NOW + timedelta(days=1)):
        with pytest.raises(PeriodCloseRefused):
            await commands.close_period(uow, FINANCE, through, "again", NOW)
    assert len(uow.periods.closes) == 1 and uow.commits == 1


# --- reconciliation --------------------------------------------------------------------


def line(source: str, amount: int, n: int = 0) -> StripeLine:
    return StripeLine(f"txn_{source}_{n}", source, "charge", "USD", amount, 30, NOW, tenant_id="t1")


async def test_a_run_matches_stages_each_line_once_and_folds_breaks(
    uow: FakeLedgerUnitOfWork,
) -> None:
    for order in ("A", "B", "C"):
        await posted_event(uow, funded(order, 10_000))
    lines = [line("ch_A", 10_000), line("ch_A", 10_000), line("ch_B", 9_999), line("ch_D", 700)]
    seen: list[commands.RunResult] = []
    result = await commands.reconcile(
        uow, FINANCE, source="csv", lines=lines, now=NOW, before_commit=seen.append
    )
    assert result.stripe_rows == 3 and seen == [result]
    assert {k: n for k, n in result.counts.items() if n} == {
        "matched": 1, "amount_mismatch": 1, "missing_in_stripe": 1, "missing_in_ledger": 1,
    }  # fmt: skip
    run = uow.reconciliation.runs[result.run_id]
    assert (run.actor, run.source, run.stripe_rows) == ("apikey:alice", "csv", 3)
    opened = (await queries.breaks(uow, FINANCE, "open", None, Page())).items
    assert {(b.kind, b.object_id, b.owner) for b in opened} == {
        ("amount_mismatch", "ch_B", "finance"), ("missing_in_stripe", "ch_C", "payments-ops"),
        ("missing_in_ledger", "ch_D", "ledger-ops"),
    }  # fmt: skip


async def test_a_run_whose_report_breaks_midway_leaves_no_trace(
    uow: FakeLedgerUnitOfWork,
) -> None:
    def report() -> Iterator[StripeLine]:
        yield line("ch_A", 10_000)
        raise ReportFormatError("line 3: bad amount")

    with pytest.raises(ReportFormatError):
        await commands.reconcile(uow, FINANCE, source="csv", lines=report(), now=NOW)
    assert uow.reconciliation.runs == {} and uow.reconciliation.rows == {} and uow.commits == 0


def open_break(uow: FakeLedgerUnitOfWork, tenant: str = "t1") -> BreakRecord:
    b = BreakRecord(
        1, tenant, "amount_mismatch", "ch_B", "USD", 5_000, 4_999, "finance", "open", NOW,
        NOW, 1, 1, None, None, None,
    )  # fmt: skip
    uow.reconciliation.rows[b.id] = b
    return b


async def test_resolving_a_break_records_who_and_why(uow: FakeLedgerUnitOfWork) -> None:
    b = open_break(uow)
    seen: list[BreakRecord] = []
    done = await commands.resolve_break(uow, FINANCE, b.id, "Stripe FX rounding", NOW, seen.append)
    assert (done.status, done.resolution, done.resolved_by, done.resolved_at) == (
        "resolved", "Stripe FX rounding", "apikey:alice", NOW,
    )  # fmt: skip
    assert uow.reconciliation.rows[b.id] == done and seen == [done] and uow.commits == 1


async def test_assigning_a_break_sets_its_owner(uow: FakeLedgerUnitOfWork) -> None:
    b = open_break(uow)
    done = await commands.assign_break(uow, FINANCE, b.id, "bob")
    assert done.owner == "bob" and done.status == "open" and uow.commits == 1


async def test_another_tenants_or_a_missing_break_is_not_found_and_unchanged(
    uow: FakeLedgerUnitOfWork,
) -> None:
    b = open_break(uow, tenant="t2")
    for break_id in (b.id, 99):
        with pytest.raises(NotFound):
            await commands.resolve_break(uow, FINANCE, break_id, "not mine", NOW)
        with pytest.raises(NotFound):
            await commands.assign_break(uow, FINANCE, break_id, "mallory")
    assert uow.reconciliation.rows == {b.id: b} and uow.commits == 0


# --- events ----------------------------------------------------------------------------


async def test_a_batch_posts_once_and_sets_aside_the_unpostable_with_its_subject(
    uow: FakeLedgerUnitOfWork,
) -> None:
    good = [funded(f"o{i}", 1_000 + i) for i in range(5)]
    bad, after_bad = bad_release("o2"), funded("o2", 1)  # o2's next waits behind the bad one
    async with uow:
        failed = await events.post_events(uow, [*good, bad, after_bad, good[0]])
        await uow.commit()
    assert list(failed) == [bad.id] and isinstance(failed[bad.id], PermanentFailure)
    assert {tx.source_event_id for tx in uow.journal.transactions.values()} == {e.id for e in good}
    assert uow.held_reports.latest[("t1", "o3", "USD")].held_after == 1_003
    async with uow:  # redelivered: no second posting
        assert await events.post_events(uow, good) == {}
        await uow.commit()
    assert len(uow.journal.transactions) == 5


async def test_a_late_event_lands_in_the_open_period_keeping_its_date(
    uow: FakeLedgerUnitOfWork,
) -> None:
    await commands.close_period(uow, FINANCE, MAY_END, "May", NOW)
    tx = await posted_event(uow, funded("o1", 2_500, at=MAY_END - timedelta(days=3)))
    assert (tx.posted_at, tx.original_date) == (MAY_END, MAY_END - timedelta(days=3))


# --- timers ----------------------------------------------------------------------------


async def test_the_checkpoint_timer_publishes_moved_heads_and_fires_again(
    uow: FakeLedgerUnitOfWork,
) -> None:
    await posted_event(uow, funded("o1", 1_000))
    every = timedelta(minutes=5)
    async with uow:
        assert await timers.chain_checkpoint_due(uow, NOW, every) == 1
        await uow.commit()
    (env,) = uow.outbox.envelopes
    assert (env.type, env.subject, env.data["seq"]) == ("ledger.chain_checkpoint", "tenant:t1", 1)
    assert env.data["hash"] == uow.journal.heads["t1"][1]
    key = timers.slot_key(NOW + every, every)
    assert uow.timers.pending[(timers.CHECKPOINT_TIMER, key)].due_at == NOW + every
    async with uow:  # nothing moved since: nothing published
        assert await timers.chain_checkpoint_due(uow, NOW + every, every) == 0
        await uow.commit()
    assert len(uow.outbox.envelopes) == 1


# --- queries ---------------------------------------------------------------------------


async def test_balances_statements_and_the_trial_balance(uow: FakeLedgerUnitOfWork) -> None:
    await posted_event(uow, funded("o1", 1_000, at=MAY_END))
    await posted_event(uow, funded("o2", 500))
    (clearing,) = await queries.accounts(uow, FINANCE, "stripe_clearing", None)
    assert (await queries.balance(uow, FINANCE, clearing.id, NOW)).raw == 1_500
    assert (await queries.balance(uow, FINANCE, clearing.id, MAY_END)).raw == 1_000
    first = await queries.statement(uow, FINANCE, clearing.id, None, NOW, None, 1)
    assert [ln.balance for ln in first.page.lines] == [1_000] and first.next_cursor
    rest = await queries.statement(uow, FINANCE, clearing.id, None, NOW, first.next_cursor, 1)
    assert rest.page.opening == 1_000 and [ln.balance for ln in rest.page.lines] == [1_500]
    with pytest.raises(InvalidCursor):
        await queries.statement(uow, FINANCE, clearing.id, None, NOW, "not-a-cursor", 1)
    with pytest.raises(NotFound):
        await queries.balance(uow, OTHER_TENANT, clearing.id, NOW)
    trial = await queries.trial_balance(uow, FINANCE, NOW)
    assert sum(t.balance for t in trial) == 0
