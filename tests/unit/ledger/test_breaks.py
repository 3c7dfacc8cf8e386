"""The break workflow: its pure rules, and its use cases against the in-memory unit of work
(comments, assignment, maker-checker resolutions, bulk resolve, matching rules, dry run)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.ledger.domain.breaks import (
    BreakResolved,
    BulkResolveRefused,
    MatchRules,
    NoPendingResolution,
    NoPendingThreshold,
    NotAFinanceUser,
    Refusal,
    ResolutionPending,
    SameUserApproval,
    bulk_refusals,
    classify,
    needs_approval,
)
from services.ledger.domain.recon import StripeLine
from services.ledger.domain.staff import InvalidAdjustment, StaffLine
from services.ledger.service_layer import breaks, commands
from services.ledger.service_layer.commands import Caller
from services.ledger.service_layer.errors import NotFound
from services.ledger.service_layer.records import AdjustmentRequest
from tests.unit.ledger.fakes import FakeLedgerUnitOfWork
from tests.unit.ledger.test_use_cases import funded, posted_event

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
ALICE = Caller("t1", "apikey:alice")
BOB = Caller("t1", "apikey:bob")
MALLORY = Caller("t2", "apikey:mallory")
USD = MatchRules("USD", amount_tolerance=5, date_window_days=2, approval_threshold=1_000)


def fee(amount: int) -> AdjustmentRequest:
    return AdjustmentRequest("PSP fee", (
        StaffLine("psp_fee_expense", "USD", debit=amount),
        StaffLine("stripe_clearing", "USD", credit=amount, external_ref="ch_A"),
    ))  # fmt: skip


# --- pure rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ledger", "stripe", "days", "rules", "kind"),
    [
        (None, 10, 0, None, "missing_in_ledger"),
        (10, None, 0, None, "missing_in_stripe"),
        (10, 11, 0, None, "amount_mismatch"),  # no rules: exact amounts
        (10, 15, 0, USD, "matched"),  # within the tolerance of 5
        (10, 16, 0, USD, "amount_mismatch"),
        (10, 10, 2, USD, "matched"),  # the window's edge is inside
        (10, 10, 3, USD, "date_mismatch"),
        (10, 10, 300, None, "matched"),  # no window: dates are not compared
    ],
)
def test_classify(
    ledger: int | None, stripe: int | None, days: int, rules: MatchRules | None, kind: str
) -> None:
    assert classify(ledger, stripe, NOW, NOW + timedelta(days=days), rules) == kind


def test_an_adjustment_needs_approval_above_its_currencys_threshold() -> None:
    rules = {"USD": USD}
    assert not needs_approval(fee(1_000).lines, rules)
    assert needs_approval(fee(1_001).lines, rules)
    eur = [StaffLine("bank", "EUR", debit=1), StaffLine("suspense", "EUR", credit=1)]
    assert needs_approval(eur, rules)  # no rules for EUR: threshold 0


def test_bulk_refusals_name_every_break_that_refuses() -> None:
    found = {1: ("open", False), 2: ("resolved", False), 3: ("open", True), 4: ("cleared", False)}
    assert bulk_refusals([1, 4], found) == []
    assert [(r.break_id, r.code) for r in bulk_refusals([1, 2, 3, 9, 1], found)] == [
        (2, "break_resolved"), (3, "resolution_pending"), (9, "break_not_found"),
        (1, "duplicate_break"),
    ]  # fmt: skip


# --- use cases -------------------------------------------------------------------------


class Users:
    def __init__(self, *actors: str) -> None:
        self.actors = set(actors)

    async def is_finance_user(self, tenant_id: str, actor: str) -> bool:
        return tenant_id == "t1" and actor in self.actors


@pytest.fixture
async def uow() -> FakeLedgerUnitOfWork:
    """Three open breaks of t1: A amount_mismatch (ledger 10,000, Stripe 9,680), B
    missing_in_stripe, C missing_in_ledger."""
    uow = FakeLedgerUnitOfWork()
    for order in ("A", "B"):
        await posted_event(uow, funded(order, 10_000))
    lines = [StripeLine("txn_A", "ch_A", "charge", "USD", 9_680, 0, NOW, tenant_id="t1"),
             StripeLine("txn_C", "ch_C", "charge", "USD", 500, 0, NOW, tenant_id="t1")]  # fmt: skip
    await commands.reconcile(uow, ALICE, source="csv", lines=lines, now=NOW)
    uow.commits = 0
    return uow


def ids(uow: FakeLedgerUnitOfWork) -> dict[str, int]:
    return {b.object_id.removeprefix("ch_"): b.id for b in uow.reconciliation.rows.values()}


async def test_comments_carry_author_and_time(uow: FakeLedgerUnitOfWork) -> None:
    a = ids(uow)["A"]
    await breaks.comment(uow, ALICE, a, "asked Stripe", NOW)
    await breaks.comment(uow, BOB, a, "fee not booked", NOW + timedelta(minutes=5))
    w = await breaks.workflow(uow, ALICE, a)
    assert [(c.author, c.body, c.created_at) for c in w.comments] == [
        ("apikey:alice", "asked Stripe", NOW),
        ("apikey:bob", "fee not booked", NOW + timedelta(minutes=5)),
    ]
    with pytest.raises(NotFound):
        await breaks.comment(uow, MALLORY, a, "not mine", NOW)
    assert uow.commits == 2


async def test_a_break_is_assigned_to_a_finance_user_only(uow: FakeLedgerUnitOfWork) -> None:
    a, users = ids(uow)["A"], Users("apikey:bob")
    got = await breaks.assign_to(uow, ALICE, users, a, "apikey:bob", NOW)
    assert (got.assignee, got.assigned_by) == ("apikey:bob", "apikey:alice")
    with pytest.raises(NotAFinanceUser):
        await breaks.assign_to(uow, ALICE, users, a, "apikey:stranger", NOW)
    assert (await breaks.workflow(uow, ALICE, a)).assignment == got and uow.commits == 1


async def test_a_resolution_without_money_resolves_at_once(uow: FakeLedgerUnitOfWork) -> None:
    b = ids(uow)["B"]
    done = await breaks.resolve(uow, ALICE, b, "in flight at Stripe", None, NOW)
    assert done.break_.status == "resolved" and done.transaction is None
    assert uow.reconciliation.rows[b].resolved_by == "apikey:alice"
    with pytest.raises(BreakResolved):
        await breaks.resolve(uow, BOB, b, "again", None, NOW)


async def policy(uow: FakeLedgerUnitOfWork, rules: MatchRules) -> None:
    """Rules set by Alice; a raise of the threshold approved by Bob, as it must be."""
    done = await breaks.set_matching_rules(uow, ALICE, rules, NOW)
    if done.pending is not None:
        await breaks.approve_threshold(uow, BOB, rules.currency, NOW)


async def test_a_raise_of_the_threshold_waits_for_a_second_finance_user(
    uow: FakeLedgerUnitOfWork,
) -> None:
    """The defect: Alice raised the threshold above her adjustment and resolved alone."""
    asked = await breaks.set_matching_rules(uow, ALICE, USD, NOW)
    assert asked.rules.approval_threshold == 0 and asked.pending is not None
    assert (asked.pending.threshold, asked.pending.maker) == (1_000, "apikey:alice")
    a = ids(uow)["A"]
    pending = await breaks.resolve(uow, ALICE, a, "write it off", fee(320), NOW)
    assert pending.resolution.status == "pending_approval" and pending.transaction is None
    with pytest.raises(SameUserApproval):
        await breaks.approve_threshold(uow, ALICE, "USD", NOW)
    done = await breaks.approve_threshold(uow, BOB, "USD", NOW)
    assert done.rules.approval_threshold == 1_000 and done.pending is None
    with pytest.raises(NoPendingThreshold):
        await breaks.approve_threshold(uow, BOB, "USD", NOW)
    # a lower threshold (stricter) applies at once
    lower = await breaks.set_matching_rules(uow, ALICE, replace(USD, approval_threshold=10), NOW)
    assert lower.rules.approval_threshold == 10 and lower.pending is None


async def test_a_small_adjustment_is_posted_and_linked_at_once(uow: FakeLedgerUnitOfWork) -> None:
    await policy(uow, USD)
    a = ids(uow)["A"]
    done = await breaks.resolve(uow, ALICE, a, "Stripe fee never booked", fee(320), NOW)
    assert done.resolution.status == "applied" and done.transaction is not None
    assert done.resolution.transaction_id == done.transaction.id
    assert (done.transaction.actor, done.transaction.reason) == (
        "apikey:alice", f"Stripe fee never booked (break {a})",
    )  # fmt: skip
    assert uow.reconciliation.rows[a].status == "resolved"


async def test_maker_checker_above_the_threshold(uow: FakeLedgerUnitOfWork) -> None:
    await policy(uow, USD)
    a = ids(uow)["A"]
    asked = await breaks.resolve(uow, ALICE, a, "write the difference off", fee(1_001), NOW)
    assert asked.resolution.status == "pending_approval" and asked.transaction is None
    assert uow.reconciliation.rows[a].status == "open"
    assert len(uow.journal.transactions) == 2  # the two fundings: nothing posted yet
    with pytest.raises(ResolutionPending):
        await breaks.resolve(uow, BOB, a, "other idea", None, NOW)
    with pytest.raises(SameUserApproval):
        await breaks.approve(uow, ALICE, a, NOW)
    assert len(uow.journal.transactions) == 2  # the refused approval posted nothing
    done = await breaks.approve(uow, BOB, a, NOW + timedelta(hours=1))
    assert done.transaction is not None and done.resolution.checker == "apikey:bob"
    assert done.transaction.actor == "apikey:alice"  # the maker
    assert (
        done.transaction.reason == f"write the difference off (break {a}; approved by apikey:bob)"
    )
    assert uow.reconciliation.rows[a].status == "resolved"
    with pytest.raises(NoPendingResolution):
        await breaks.approve(uow, BOB, a, NOW)


async def test_no_rules_means_every_adjustment_needs_a_checker(
    uow: FakeLedgerUnitOfWork,
) -> None:
    asked = await breaks.resolve(uow, ALICE, ids(uow)["A"], "one cent", fee(1), NOW)
    assert asked.resolution.status == "pending_approval"


async def test_an_invalid_adjustment_is_refused_before_it_waits(
    uow: FakeLedgerUnitOfWork,
) -> None:
    bad = AdjustmentRequest("", (StaffLine("psp_fee_expense", "USD", debit=5),
                                 StaffLine("bank", "USD", credit=4)))  # fmt: skip
    with pytest.raises(InvalidAdjustment):
        await breaks.resolve(uow, ALICE, ids(uow)["A"], "unbalanced", bad, NOW)
    assert uow.break_work.resolution_rows == {} and uow.commits == 0


async def test_bulk_resolve_is_all_or_nothing(uow: FakeLedgerUnitOfWork) -> None:
    found = ids(uow)
    await breaks.resolve(uow, ALICE, found["B"], "done", None, NOW)
    with pytest.raises(BulkResolveRefused) as refused:
        await breaks.bulk_resolve(uow, ALICE, [found["A"], found["B"], 999], "batch", NOW)
    assert refused.value.refusals == [
        Refusal(found["B"], "break_resolved", "the break is resolved already"),
        Refusal(999, "break_not_found", "break 999 does not exist"),
    ]
    assert uow.reconciliation.rows[found["A"]].status == "open"  # nothing resolved
    done = await breaks.bulk_resolve(uow, BOB, [found["A"], found["C"]], "batch", NOW)
    assert {(b.id, b.status, b.resolved_by) for b in done} == {
        (found["A"], "resolved", "apikey:bob"), (found["C"], "resolved", "apikey:bob"),
    }  # fmt: skip
    with pytest.raises(BulkResolveRefused):
        await breaks.bulk_resolve(uow, MALLORY, [found["A"]], "not mine", NOW)


async def test_a_dry_run_reports_what_a_run_would_do_and_writes_nothing(
    uow: FakeLedgerUnitOfWork,
) -> None:
    found = ids(uow)
    lines = [StripeLine("txn_A", "ch_A", "charge", "USD", 9_998, 0, NOW, tenant_id="t1"),  # within 5 now
             StripeLine("txn_B", "ch_B", "charge", "USD", 10_000, 0, NOW, tenant_id="t1")]  # fmt: skip
    await breaks.set_matching_rules(uow, ALICE, MatchRules("USD", amount_tolerance=5), NOW)
    before = dict(uow.reconciliation.rows)
    runs = dict(uow.reconciliation.runs)
    dry = await breaks.dry_run(uow, ALICE, lines=lines, source="csv", now=NOW)
    assert dry.counts["matched"] == 2 and dry.counts["missing_in_ledger"] == 0
    assert {b.id for b in dry.cleared} == {found["A"], found["B"], found["C"]}
    assert dry.opened == [] and dry.stripe_rows == 2
    assert uow.reconciliation.rows == before and uow.reconciliation.runs == runs
    # The run itself does what the dry run said.
    result = await commands.reconcile(uow, ALICE, source="csv", lines=lines, now=NOW)
    assert result.counts == dry.counts
    assert {b.id for b in uow.reconciliation.rows.values() if b.status == "cleared"} == {
        b.id for b in dry.cleared
    }


async def test_a_pending_adjustment_of_a_break_resolved_meanwhile_is_not_posted(
    uow: FakeLedgerUnitOfWork,
) -> None:
    a = ids(uow)["A"]
    await breaks.resolve(uow, ALICE, a, "write it off", fee(500), NOW)
    await commands.resolve_break(uow, BOB, a, "resolved by the older route", NOW)
    with pytest.raises(BreakResolved):
        await breaks.approve(uow, BOB, a, NOW)
    assert len(uow.journal.transactions) == 2  # the fundings only


async def test_the_older_resolve_route_leaves_a_resolved_break_as_it_was_resolved(
    uow: FakeLedgerUnitOfWork,
) -> None:
    """A break resolved with a posted adjustment stays resolved by its resolver, with its
    reason: the older ``.../resolve`` route must not resolve it again over them."""
    a = ids(uow)["A"]
    done = await breaks.resolve(uow, ALICE, a, "fee booked by hand", None, NOW)
    assert done.break_.status == "resolved"
    with pytest.raises(BreakResolved):
        await commands.resolve_break(uow, BOB, a, "something else", NOW + timedelta(hours=1))
    w = await breaks.workflow(uow, ALICE, a)
    assert (w.break_.resolved_by, w.break_.resolution) == ("apikey:alice", "fee booked by hand")
